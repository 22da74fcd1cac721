// `pwsync emulate`: runs the IIJ ID Service API emulator (emulator/), the same as the pwsync-emulator binary.

export async function emulateCommand(argv: string[]): Promise<number> {
  const { runEmulatorCli } = await import('../../emulator/main.js');
  return runEmulatorCli(argv);
}
