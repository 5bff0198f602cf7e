// `npm start`: the whole system on embedded defaults (see README). Same as `jml start`.
process.argv.splice(2, 0, 'start');
await import('./cli/main.js');
