// Watches config.yml and secret.yml for changes (editors often replace the file, so the directory is watched) and
// calls back once per burst of events. Never reads the files itself.

import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';

export function watchConfigFiles(files: readonly string[], onChange: () => void, debounceMs = 300): () => void {
  const names = new Map<string, Set<string>>();
  for (const f of files) {
    const dir = path.dirname(f);
    if (!names.has(dir)) names.set(dir, new Set());
    names.get(dir)!.add(path.basename(f));
  }
  let timer: NodeJS.Timeout | undefined;
  const watchers: FSWatcher[] = [];
  for (const [dir, base] of names) {
    const w = watch(dir, (_event, name) => {
      if (name !== null && !base.has(name.toString())) return;
      if (timer) clearTimeout(timer);
      timer = setTimeout(onChange, debounceMs);
    });
    w.on('error', () => undefined);
    watchers.push(w);
  }
  return () => {
    if (timer) clearTimeout(timer);
    for (const w of watchers) w.close();
  };
}
