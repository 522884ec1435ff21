// Open built pages in a real headless Chromium (Debian's /usr/bin/chromium, driven by
// playwright-core from build/web/node_modules) and report, as JSON on stdout, what a reader would
// see: figures that did not load, math left untypeset, broken links, requests that left the
// machine, script errors. Used by tests/test_book.py and tests/test_slides.py.
//
//   node tools/browser_check.mjs --modules build/web/node_modules --site build/book \
//        --pages index.html,00_setup.html --screenshots build/screenshots [--slides [--fit]]
//
// Pages are opened as file:// URLs, as a reader who double-clicks them would.
import { createRequire } from "node:module";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL, fileURLToPath } from "node:url";

const args = {};
for (let i = 2; i < process.argv.length; i++) {
  const key = process.argv[i].replace(/^--/, "");
  const next = process.argv[i + 1];
  if (next === undefined || next.startsWith("--")) args[key] = true;
  else { args[key] = next; i++; }
}
const require = createRequire(path.resolve(args.modules, "..", "package.json"));
const { chromium } = require("playwright-core");

const site = path.resolve(args.site);
const pages = args.pages.split(",").filter(Boolean);
const shots = args.screenshots ? path.resolve(args.screenshots) : null;
if (shots) fs.mkdirSync(shots, { recursive: true });
const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), "lecture-chromium-"));

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: args.chromium || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  viewport: { width: 1280, height: 800 },
});

const report = { chromium: context.browser()?.version?.() ?? null, pages: {} };

// Every slide of a deck at the deck's size (reveal.js's width x height, before scaling to the
// window): shown one after the other (as the presenter would, so tools/templates/courseslides/
// slides.js fits each), its content's height and width measured. A slide that is taller or
// wider than the deck, or that scrolls as a whole, overflows. Then the keyboard: on the first
// slide with a scroll box, space must scroll the box to its end before it moves on.
async function measureSlides(page) {
  const fit = await page.evaluate(async () => {
    const { width: W, height: H } = Reveal.getConfig();
    const frame = () => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok)));
    const slides = Reveal.getSlides();
    const out = { width: W, height: H, slides: slides.length, overflow: [], empty: [], boxes: 0,
                  figures_shrunk: 0, smallest_figure_scale: null, box_slide: null };
    for (let i = 0; i < slides.length; i++) {
      const s = slides[i], idx = Reveal.getIndices(s);
      Reveal.slide(idx.h, idx.v);
      await frame();
      const where = { slide: i + 1, route: `#/${idx.h}/${idx.v}`, height: s.scrollHeight, width: s.scrollWidth };
      if (s.scrollHeight > H + 1 || s.scrollWidth > W + 1 || s.classList.contains("cb-scroll")) out.overflow.push(where);
      if (!s.innerText.trim() && !s.querySelector("img, svg, mjx-container, canvas, video")) out.empty.push(where);
      const boxes = s.querySelectorAll(".cb-scrollbox").length;
      out.boxes += boxes;
      if (boxes && !out.box_slide) out.box_slide = idx;
      for (const img of s.querySelectorAll("img[data-cb-fit]")) {
        out.figures_shrunk += 1;
        // shown height / the height slides.css gives it (at most 640 px, no wider than the slide)
        const shown = img.getBoundingClientRect().height / Reveal.getScale();
        const css = Math.min(640, img.naturalHeight * Math.min(1, (W - 100) / img.naturalWidth));
        const scale = Math.round(100 * shown / css) / 100;
        if (out.smallest_figure_scale === null || scale < out.smallest_figure_scale) out.smallest_figure_scale = scale;
      }
    }
    return out;
  });
  if (fit.box_slide) {
    // Space scrolls the first unfinished box; the slide changes only once every box is at its end.
    await page.evaluate(({ h, v }) => { Reveal.slide(h, v); document.activeElement?.blur?.(); }, fit.box_slide);
    await page.waitForTimeout(100);
    const start = await page.evaluate(() => Reveal.getIndices());
    const steps = [];
    for (let i = 0; i < 60; i++) {
      const before = await page.evaluate(() => [...Reveal.getCurrentSlide().querySelectorAll(".cb-scrollbox")]
        .map((b) => b.scrollTop + b.clientHeight >= b.scrollHeight - 2));
      await page.keyboard.press("Space");
      await page.waitForTimeout(60);
      const now = await page.evaluate(() => Reveal.getIndices());
      if (now.h !== start.h || now.v !== start.v) { steps.push(before); break; }
      steps.push(before);
    }
    const last = steps[steps.length - 1] || [];
    fit.keyboard = { presses: steps.length, boxes_at_end_before_leaving: last.length > 0 && last.every(Boolean),
                     left_slide: steps.length < 60 };
  }
  return fit;
}
try {
  for (const name of pages) {
    const page = await context.newPage();
    const r = { errors: [], failed: [], external: [] };
    page.on("pageerror", (e) => r.errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") r.errors.push(m.text()); });
    page.on("requestfailed", (q) => r.failed.push(`${q.url().slice(0, 200)} (${q.failure()?.errorText})`));
    page.on("request", (q) => {
      const u = q.url();
      if (!u.startsWith("file:") && !u.startsWith("data:") && !u.startsWith("blob:")) r.external.push(u.slice(0, 200));
    });
    const url = pathToFileURL(path.join(site, name)).href;
    await page.goto(url, { waitUntil: "load", timeout: 60000 });
    // MathJax 3 typesets at start-up; wait for it (pages without MathJax skip this).
    r.mathjax = await page.evaluate(async () => {
      if (!window.MathJax) return "absent";
      for (let i = 0; i < 200 && !(window.MathJax.startup && window.MathJax.startup.promise); i++)
        await new Promise((ok) => setTimeout(ok, 50));
      if (!(window.MathJax.startup && window.MathJax.startup.promise)) return "not started";
      await window.MathJax.startup.promise;
      return "typeset";
    });
    if (args.slides) {
      r.reveal = await page.evaluate(async () => {
        if (!window.Reveal) return null;          // not a deck (the instructors' page)
        for (let i = 0; i < 100 && !(window.Reveal && window.Reveal.isReady && window.Reveal.isReady()); i++)
          await new Promise((ok) => setTimeout(ok, 50));
        if (!(window.Reveal && window.Reveal.isReady && window.Reveal.isReady())) return null;
        return { slides: window.Reveal.getTotalSlides(), horizontal: window.Reveal.getHorizontalSlides().length,
                 notes: document.querySelectorAll("aside.notes").length };
      });
      if (r.reveal && args.fit) r.fit = await measureSlides(page);
    }
    Object.assign(r, await page.evaluate(() => {
      const skip = new Set(["PRE", "CODE", "SCRIPT", "STYLE", "TEXTAREA"]);
      const raw = [];
      const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
      for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        let p = n.parentElement, inside = false;
        for (; p; p = p.parentElement) if (skip.has(p.tagName) || p.tagName.startsWith("MJX-")) { inside = true; break; }
        if (inside) continue;
        const t = n.textContent;
        if (t.includes("$$") || /\\\(|\\\[|\\begin\{/.test(t)) raw.push(t.trim().slice(0, 80));
      }
      const imgs = [...document.images];
      return {
        title: document.title,
        images: imgs.length,
        output_images: document.querySelectorAll(".jp-OutputArea-output img, .jp-RenderedImage img, .jp-RenderedSVG svg").length,
        broken_images: imgs.filter((i) => !(i.complete && i.naturalWidth > 0)).map((i) => (i.getAttribute("src") || "").slice(0, 60)),
        math: document.querySelectorAll("mjx-container").length,
        math_errors: [...document.querySelectorAll("mjx-merror")].map((e) => e.textContent.slice(0, 80)),
        raw_math: raw,
        ids: [...document.querySelectorAll("[id]")].map((e) => e.id),
        links: [...document.querySelectorAll("a[href]")].map((a) => a.getAttribute("href")),
      };
    }));
    if (shots && name === pages[0]) await page.screenshot({ path: path.join(shots, `${name}.png`) });
    if (shots && args.shot && name === args.shot) {
      // A figure-and-math view of a notebook page: scroll to the first typeset formula.
      await page.evaluate(() => { const m = document.querySelector("mjx-container[display='true'], mjx-container");
                                  if (m) m.scrollIntoView({ block: "start" }); });
      await page.screenshot({ path: path.join(shots, `${name}.png`) });
    }
    await page.close();
    report.pages[name] = r;
  }
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}

// Relative links: the file must exist, and an anchor must be an id of the page it points to.
const seen = Object.fromEntries(Object.entries(report.pages).map(([n, r]) => [n, new Set(r.ids)]));
const idsOf = (file) => {
  const rel = path.relative(site, file);
  if (seen[rel]) return seen[rel];
  const text = fs.readFileSync(file, "utf8");
  return new Set([...text.matchAll(/\bid="([^"]+)"/g)].map((m) => m[1]));
};
for (const [name, r] of Object.entries(report.pages)) {
  r.broken_links = [];
  for (const href of r.links) {
    if (/^[a-zA-Z][a-zA-Z0-9+.\-]*:|^\/\//.test(href)) continue;
    const [target, anchor] = href.split("#");
    if (!target && anchor && anchor.startsWith("/")) continue;   // reveal.js's own #/h/v routes
    const file = target ? path.resolve(path.dirname(path.join(site, name)), decodeURIComponent(target.split("?")[0])) : path.join(site, name);
    if (!fs.existsSync(file)) { r.broken_links.push(`${href} (no file)`); continue; }
    // As a browser does: the fragment as written, else percent-decoded.
    const ids = anchor && !anchor.startsWith("/") && file.endsWith(".html") ? idsOf(file) : null;
    if (ids && !ids.has(anchor) && !ids.has(decodeURIComponent(anchor)))
      r.broken_links.push(`${href} (no id ${anchor})`);
  }
  r.external_links = r.links.filter((h) => /^https?:/.test(h)).length;
  // A link built from an unknown repository ("Open in Colab" to ORG/REPO) is broken too.
  r.placeholder_links = r.links.filter((h) => /ORG\/REPO|OWNER\/NAME|\/(None|undefined|null)(\/|\?|$)/.test(h));
  delete r.ids;
  delete r.links;
}
process.stdout.write(JSON.stringify(report, null, 1) + "\n");
