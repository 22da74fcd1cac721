// Keeps V8's young generation at its initial size (two 1 MiB semi-spaces) for the life of the process. Imported
// first by the CLI entry (and the bench's agent host), so it takes effect before any other module loads.
//
// Why: loading zod, undici and ldapts allocates many long-lived objects at once, V8 reads that as a high survival
// rate and doubles the semi-spaces up to 16 MiB each; the agent then carries ~14 MiB more RSS until V8's memory
// reducer notices it is idle. The agent's own allocation per change is small and short-lived, so a 1 MiB nursery
// costs it nothing measurable (bench/REPORT.md §5, delivery CPU per change with and without it). The growth factor
// is read each time V8 considers growing, unlike --max-semi-space-size, which only a command-line flag could set —
// and pwsync.exe and npm installs have no command line of their own (docs/architecture.md#performance-budgets).

import v8 from 'node:v8';

v8.setFlagsFromString('--semi-space-growth-factor=1');
