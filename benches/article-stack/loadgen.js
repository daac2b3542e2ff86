// Load generator for the article's stack (benches/article-stack/run.sh): riders on A join their ride's room,
// drivers on B emit positions on a fixed schedule; prints one JSON line (CPU per delivered
// position of the given server pids, from /proc, over the sending window).
// usage: node loadgen.js riderUrl driverUrl rides rate secs pidA pidB pidRedis
const { io } = require('socket.io-client');
const fs = require('fs');
const [riderUrl, driverUrl, ridesS, rateS, secsS, ...pids] = process.argv.slice(2);
const rides = +ridesS, rate = +rateS, secs = +secsS;
const cpu = (pid) => { const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (+f[11] + +f[12]) * 10; }; // ms
const self = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const connect = (url) => new Promise((ok, ko) => { const s = io(url, { transports: ['websocket'], forceNew: true }); s.once('connect', () => ok(s)); s.once('connect_error', ko); });
(async () => {
  const riders = [], drivers = [];
  for (let i = 0; i < rides; i++) {
    const r = await connect(riderUrl);
    await r.emitWithAck('subscribe', { rideId: i });
    riders.push(r);
    drivers.push(await connect(driverUrl));
  }
  const sentAt = new Map(); let delivered = 0, sent = 0; const lat = [];
  riders.forEach((r) => r.on('position', (p) => {
    const k = p.rideId + ':' + p.seq; const t = sentAt.get(k);
    if (t !== undefined) { sentAt.delete(k); delivered++; lat.push(Number(process.hrtime.bigint() - t) / 1e6); }
  }));
  await new Promise((r) => setTimeout(r, 1000));
  const c0 = pids.map(cpu), s0 = self(), t0 = Date.now();
  const every = 1000 / rate;
  const timers = drivers.map((d, i) => {
    let seq = 0;
    const tick = () => { seq++; sentAt.set(i + ':' + seq, process.hrtime.bigint()); sent++; d.emit('position', { rideId: i, seq, lat: 52.5 + seq * 1e-5, lng: 13.4 }); };
    const start = setTimeout(() => { tick(); t.iv = setInterval(tick, every); }, (i / rides) * every);
    const t = { start, iv: null }; return t;
  });
  await new Promise((r) => setTimeout(r, secs * 1000));
  timers.forEach((t) => { clearTimeout(t.start); clearInterval(t.iv); });
  const wall = Date.now() - t0; const c1 = pids.map(cpu), s1 = self();
  await new Promise((r) => setTimeout(r, 2000));
  lat.sort((a, b) => a - b); const q = (x) => lat[Math.min(lat.length - 1, Math.floor(x * lat.length))];
  const used = c1.map((c, i) => c - c0[i]);
  const perPos = used.map((ms) => (ms * 1000) / delivered);
  console.log(JSON.stringify({ rides, rate, secs, sent, delivered, lost: sent - delivered, p50: q(0.5), p99: q(0.99), max: lat[lat.length - 1],
    us_per_pos: perPos.map((x) => +x.toFixed(1)), total_us_per_pos: +perPos.reduce((a, b) => a + b, 0).toFixed(1),
    cpu_pct: used.map((ms) => +(100 * ms / wall).toFixed(1)), loadgen_cpu_pct: +(100 * (s1 - s0) / wall).toFixed(1) }));
  process.exit(0);
})();
