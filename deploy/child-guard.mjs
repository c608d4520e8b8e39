// Preloaded into every child of deploy/start.mjs (`node --import`): when the launcher disappears without
// stopping us (kill -9 of it), we are reparented; then stop as on SIGTERM rather than run on as an orphan
// holding the API port or consuming jobs.
const launcher = process.ppid;
const timer = setInterval(() => {
  if (process.ppid === launcher) return;
  clearInterval(timer);
  process.kill(process.pid, 'SIGTERM');
}, 1000);
timer.unref();
