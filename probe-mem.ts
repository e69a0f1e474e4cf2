const mu = () => { const m = process.memoryUsage(); return `rss ${Math.round(m.rss/1048576)} heapUsed ${Math.round(m.heapUsed/1048576)} heapTotal ${Math.round(m.heapTotal/1048576)} ext ${Math.round(m.external/1048576)}`; };
console.log('start', mu());
const what = process.argv[2]!;
await import(what);
globalThis.gc?.();
console.log(what, mu());
