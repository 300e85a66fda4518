// In-page frame probe of the browser bench, added with page.add_init_script before any page script.
//
// It runs on the page being measured, so it stays cheap: a requestAnimationFrame loop only between
// start() and stop(), plain number arrays, one capture-phase listener for nightingale-msa's
// drawCompleted (dispatched on its canvas, bubbling through the light DOM), and a buffered
// PerformanceObserver for Long Animation Frames where the browser has them. No pass/fail here:
// the Python runner turns these arrays into rows and a separate judge decides.
(() => {
  if (window.__bench) return;
  const now = () => performance.now();
  const bench = {
    drawCount: 0, // every drawCompleted since the page started (stability check before measuring)
    lastDrawAt: -1,
    draws: [], // drawCompleted timestamps (ms, performance.now) since the page started
    loaf: [], // [startTime, duration, blockingDuration] per long animation frame
    loafSupported: false,
    frames: [], // rAF timestamps of the current interaction (first one = t0 anchor)
    name: null,
    generation: 0, // one rAF chain per interaction: a chain from an earlier start() ends itself
    waiters: [], // [drawCount to exceed, resolve] from nextDraw()
  };
  document.addEventListener(
    "drawCompleted",
    () => {
      const t = now();
      bench.drawCount += 1;
      bench.lastDrawAt = t;
      bench.draws.push(t);
      if (bench.waiters.length) {
        const due = bench.waiters.filter(([after]) => bench.drawCount > after);
        bench.waiters = bench.waiters.filter(([after]) => bench.drawCount <= after);
        for (const [, resolve] of due) resolve(true);
      }
    },
    { capture: true },
  );
  try {
    if ((PerformanceObserver.supportedEntryTypes || []).includes("long-animation-frame")) {
      const keep = (entries) => {
        for (const e of entries) bench.loaf.push([e.startTime, e.duration, e.blockingDuration || 0]);
      };
      const observer = new PerformanceObserver((list) => keep(list.getEntries()));
      observer.observe({ type: "long-animation-frame", buffered: true });
      // entries are delivered in a later task; stop() flushes them so the last long frame counts
      bench.flushLoaf = () => keep(observer.takeRecords());
      bench.loafSupported = true;
    }
  } catch {
    bench.loafSupported = false;
  }

  const chain = (generation) => {
    const loop = (ts) => {
      if (generation !== bench.generation) return;
      bench.frames.push(ts);
      requestAnimationFrame(loop);
    };
    return loop;
  };

  // Resolves at the first animation frame after the call; that frame's timestamp is t0.
  bench.start = (name) =>
    new Promise((resolve) => {
      const generation = ++bench.generation;
      bench.name = name;
      bench.frames = [];
      requestAnimationFrame((ts) => {
        bench.frames.push(ts);
        requestAnimationFrame(chain(generation));
        resolve({ t0: ts, drawCount: bench.drawCount });
      });
    });

  // Waits one more frame, so every draw before the call falls inside a recorded frame interval,
  // then (in a task after that frame, when its long-animation-frame entry exists) hands back this
  // interaction's frames, draws and long animation frames.
  bench.stop = () =>
    new Promise((resolve) => {
      requestAnimationFrame((ts) => {
        bench.generation += 1;
        const frames = bench.frames;
        if (frames[frames.length - 1] !== ts) frames.push(ts);
        const name = bench.name;
        bench.frames = [];
        bench.name = null;
        setTimeout(() => {
          if (bench.flushLoaf) bench.flushLoaf();
          const t0 = frames[0];
          const end = frames[frames.length - 1];
          resolve({
            name,
            t0,
            end,
            frames,
            draws: bench.draws.filter((t) => t > t0 && t <= end),
            loaf: bench.loaf.filter(([start]) => start >= t0 && start <= end),
            loafSupported: bench.loafSupported,
          });
        }, 0);
      });
    });

  // Resolves true at the first drawCompleted that brings drawCount above `after`, false after
  // `timeoutMs`: an event listener, not polling, so waiting costs the measured page nothing.
  bench.nextDraw = (after, timeoutMs) =>
    new Promise((resolve) => {
      if (bench.drawCount > after) return resolve(true);
      const entry = [after, resolve];
      bench.waiters.push(entry);
      setTimeout(() => {
        if (bench.waiters.includes(entry)) {
          bench.waiters = bench.waiters.filter((w) => w !== entry);
          resolve(false);
        }
      }, timeoutMs);
    });

  // Resolves once no drawCompleted came for `quietMs` (or gives up after `maxMs`): the page keeps
  // redrawing for a while after "rendered" (conservation worker), which must not count as interaction.
  bench.settle = (quietMs, maxMs) =>
    new Promise((resolve) => {
      const begun = now();
      const check = () => {
        const t = now();
        const quiet = bench.lastDrawAt < 0 ? t - begun : t - bench.lastDrawAt;
        if (quiet >= quietMs || t - begun >= maxMs) {
          resolve({ settled: quiet >= quietMs, waitedMs: t - begun, drawCount: bench.drawCount });
        } else {
          setTimeout(check, 50);
        }
      };
      check();
    });

  window.__bench = bench;
})();
