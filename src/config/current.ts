// The configuration in force now: one holder that every part of a running agent reads (delivery, intake, console,
// metrics, token-expiry warnings, the coverage page), so a reload reaches all of them at once. Holds no file I/O.

import { EventEmitter } from 'node:events';
import type { LoadedConfig } from './load.js';

/** A LoadedConfig, or a holder of the current one: what parts that may outlive a reload accept. */
export type ConfigSource = LoadedConfig | CurrentConfig;

export class CurrentConfig extends EventEmitter<{ change: [next: LoadedConfig, previous: LoadedConfig] }> {
  #loaded: LoadedConfig;

  constructor(loaded: LoadedConfig) {
    super();
    this.#loaded = loaded;
  }

  /** The configuration in force; read it at the moment of use, never keep it across a reload. */
  get(): LoadedConfig {
    return this.#loaded;
  }

  /** Puts `next` in force and tells every listener. */
  replace(next: LoadedConfig): void {
    const previous = this.#loaded;
    this.#loaded = next;
    this.emit('change', next, previous);
  }
}

/** Reads a ConfigSource now. */
export function currentOf(source: ConfigSource): LoadedConfig {
  return source instanceof CurrentConfig ? source.get() : source;
}
