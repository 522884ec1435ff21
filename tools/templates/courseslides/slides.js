// Slides that fit (tools/slides.py, step 2): in the deck, after the build has split long slides,
// make what is left fit the slide's height, and let the keyboard reach what is in a scroll box.
//
//   1. The tallest code becomes a scroll box (class cb-scrollbox, focusable), no lower than
//      CB_FIT.minBox px, until the slide fits; then the tallest printed output or table.
//   2. Then figures shrink to the slide's free height, to no less than CB_FIT.minFigure of their
//      size; then long text becomes a scroll box.
//   3. Only if that is not enough do figures shrink further (to 120 px) and, last, the slide
//      itself scrolls (class cb-scroll; the browser test counts that as an overflow).
//
// Space, PageDown and the down arrow scroll the first box of the slide that is not at its end
// before they move on; PageUp and the up arrow scroll back. Fitting is done per slide when it is
// shown, and again once the figures are loaded and MathJax has typeset (heights change).
(function () {
  const cfg = Object.assign({ minFigure: 0.55, minBox: 170, height: 800 }, window.CB_FIT || {});
  const FIGURES = ".jp-OutputArea-output img, .jp-OutputArea-output svg";
  const CODE = ".jp-Cell-inputWrapper .jp-InputArea-editor";
  const OUTPUTS = [
    ".jp-OutputArea-output pre",
    ".jp-OutputArea-output.jp-RenderedHTMLCommon, .jp-OutputArea-output .jp-RenderedHTMLCommon",
    ".jp-OutputArea-output.jp-RenderedMarkdown",
  ].join(", ");
  const TEXT = ".jp-MarkdownOutput, .jp-RenderedMarkdown";

  const scale = () => (window.Reveal && Reveal.getScale ? Reveal.getScale() : 1) || 1;
  const height = (el) => el.getBoundingClientRect().height / scale();
  const excess = (s) => s.scrollHeight - cfg.height;

  function reset(s) {
    s.querySelectorAll("[data-cb-fit]").forEach((el) => {
      el.style.maxHeight = "";
      el.classList.remove("cb-scrollbox");
      if (el.dataset.cbFit === "box") el.removeAttribute("tabindex");
      delete el.dataset.cbFit;
    });
    s.classList.remove("cb-scroll");
    delete s.dataset.cbFitted;
  }

  function shrinkFigures(s, least) {
    const figs = [...s.querySelectorAll(FIGURES)].map((el) => [el, height(el)]).filter(([, h]) => h > 0);
    const room = (h) => Math.max(0, h - Math.max(least(h), 0));
    const total = figs.reduce((a, [, h]) => a + room(h), 0);
    let over = excess(s);
    if (over <= 0 || total <= 0) return;
    const cut = Math.min(1, over / total);
    for (const [el, h] of figs) {
      el.style.maxHeight = `${Math.floor(h - cut * room(h))}px`;
      el.dataset.cbFit = "figure";
    }
  }

  function boxes(s, selector) {
    const seen = new Set();
    const found = [...s.querySelectorAll(selector)].filter((el) => {
      for (let p = el.parentElement; p && p !== s; p = p.parentElement) if (seen.has(p)) return false;
      seen.add(el);
      return el.offsetParent !== null;
    });
    found.sort((a, b) => height(b) - height(a));
    for (const el of found) {
      const over = excess(s);
      if (over <= 0) break;
      const h = height(el);
      if (h <= cfg.minBox) continue;
      el.style.maxHeight = `${Math.floor(Math.max(cfg.minBox, h - over))}px`;
      el.classList.add("cb-scrollbox");
      el.setAttribute("tabindex", "0");
      el.dataset.cbFit = "box";
    }
  }

  function fit(s) {
    if (!s || s.dataset.cbFitted) return;
    s.dataset.cbFitted = "1";
    if (excess(s) <= 0) return;
    boxes(s, CODE);
    if (excess(s) > 0) boxes(s, OUTPUTS);
    if (excess(s) > 0) shrinkFigures(s, (h) => h * cfg.minFigure);
    if (excess(s) > 0) boxes(s, TEXT);
    if (excess(s) > 0) shrinkFigures(s, () => 120);
    if (excess(s) > 0) s.classList.add("cb-scroll");
  }

  function fitPresent() {
    // Printing (?print-pdf) lays out every slide at once: fit them all.
    const which = /print-pdf/i.test(window.location.search) ? "section" : "section.present";
    document.querySelectorAll(`.reveal .slides ${which}`).forEach((s) => {
      if (!s.querySelector(":scope > section")) fit(s);
    });
  }

  function refit() {
    document.querySelectorAll(".reveal .slides section[data-cb-fitted]").forEach(reset);
    fitPresent();
  }

  // Scroll a box on the current slide before leaving it.
  function scrollBox(down) {
    const slide = window.Reveal && Reveal.getCurrentSlide();
    if (!slide) return false;
    let list = [...slide.querySelectorAll(".cb-scrollbox")];
    if (slide.classList.contains("cb-scroll")) list.push(slide);
    if (!down) list = list.reverse();
    for (const el of list) {
      const more = down ? el.scrollTop + el.clientHeight < el.scrollHeight - 2 : el.scrollTop > 0;
      if (more) {
        el.scrollBy({ top: (down ? 1 : -1) * Math.max(40, el.clientHeight * 0.8) });
        return true;
      }
    }
    return false;
  }

  window.CourseSlides = {
    fit, refit, fitPresent, scrollBox,
    keyboard: {
      32: () => scrollBox(true) || Reveal.next(),        // space
      34: () => scrollBox(true) || Reveal.next(),        // page down
      40: () => scrollBox(true) || Reveal.down(),        // arrow down
      33: () => scrollBox(false) || Reveal.prev(),       // page up
      38: () => scrollBox(false) || Reveal.up(),         // arrow up
    },
    install() {
      Reveal.on("ready", fitPresent);
      Reveal.on("slidechanged", fitPresent);
      window.addEventListener("load", refit);
      const mj = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
      (function waitMath(n) {
        if (mj()) mj().then(refit);
        else if (n > 0) setTimeout(() => waitMath(n - 1), 100);
      })(100);
    },
  };
})();
