// Injected into every new document of a bench tab (CDP Page.addScriptToEvaluateOnNewDocument).
// Why: write -> DOM latency has to be taken where the value lands, in the tab itself, from the very first
// mutation of each document; and reloads have to survive the reload they count (sessionStorage, per tab).
(() => {
  if (window.__bench) return;
  const KEY = "__bench_state";
  let saved = {};
  try {
    saved = JSON.parse(sessionStorage.getItem(KEY) || "{}");
  } catch (e) {
    saved = {}; // about:blank and other opaque origins have no sessionStorage
  }
  const now = () => performance.timeOrigin + performance.now();
  const bench = (window.__bench = {
    loads: (saved.loads || 0) + 1, // documents loaded in this tab on this origin; reloads = loads - 1
    reasons: saved.reasons || [], // NiceGUI says why it reloads ("reloading because ...") before it does
    seen: saved.seen || {}, // seq -> first time (ms since epoch) a "bv:<seq>:" token was in the DOM
    callbacks: {}, // second (epoch) -> MutationObserver callbacks in that second
    firstUserKey: null, // first time a "user:NNNNNNN" key was added (navigation scenario)
    navigation: (performance.getEntriesByType("navigation")[0] || {}).type || "",
  });
  const TOKEN = /bv:(\d+):/g;
  const USER_KEY = /user:\d{7}/;

  function scan(text, at) {
    if (!text) return;
    if (bench.firstUserKey === null && USER_KEY.test(text)) bench.firstUserKey = at;
    if (text.indexOf("bv:") < 0) return;
    TOKEN.lastIndex = 0;
    let match;
    while ((match = TOKEN.exec(text)) !== null) {
      if (!(match[1] in bench.seen)) bench.seen[match[1]] = at;
    }
  }

  new MutationObserver((records) => {
    const at = now();
    const second = Math.floor(at / 1000);
    bench.callbacks[second] = (bench.callbacks[second] || 0) + 1;
    for (const record of records) {
      if (record.type === "characterData") scan(record.target.data, at);
      else for (const node of record.addedNodes) scan(node.textContent, at);
    }
  }).observe(document, { childList: true, characterData: true, subtree: true });

  function save() {
    try {
      sessionStorage.setItem(KEY, JSON.stringify({ loads: bench.loads, reasons: bench.reasons, seen: bench.seen }));
    } catch (e) {
      /* no storage here: nothing to carry over */
    }
  }
  addEventListener("pagehide", save);
  save(); // count this load even if the next one comes without a pagehide

  const log = console.log;
  console.log = function (...args) {
    if (typeof args[0] === "string" && args[0].startsWith("reloading")) {
      bench.reasons.push(new Date().toISOString() + " " + args[0]);
      save();
    }
    return log.apply(this, args);
  };

  bench.reset = () => {
    bench.seen = {};
    bench.callbacks = {};
    bench.firstUserKey = null;
    save();
  };
  bench.has = (tokens) => {
    const text = document.body ? document.body.textContent : "";
    return tokens.filter((token) => text.indexOf(token) < 0);
  };
})();
