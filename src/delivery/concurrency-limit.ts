// Runs at most `limit` calls of an async function at once; the rest wait in arrival order. The delivery worker uses
// it for the version look-ups it starts after each ack, so a burst of captures cannot open hundreds of LDAP searches.

export function limitConcurrency<A extends unknown[], R>(limit: number, fn: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer');
  let running = 0;
  const waiting: Array<() => void> = [];
  const release = () => {
    running--;
    waiting.shift()?.();
  };
  return (...args: A) =>
    new Promise<R>((resolve, reject) => {
      const start = () => {
        running++;
        let p: Promise<R>;
        try {
          p = fn(...args);
        } catch (err) {
          p = Promise.reject(err);
        }
        p.then(resolve, reject).finally(release);
      };
      if (running < limit) start();
      else waiting.push(start);
    });
}
