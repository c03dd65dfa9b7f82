// Pan and zoom over the graphviz SVG in every .graph-viewport, and small page helpers.
//
// The SVG keeps its natural size (one SVG unit per CSS pixel) and moves as a whole with a CSS transform
// (translate, then scale), so a pan or zoom step is a compositing change, not a re-layout of every node: on a
// 1,000-node lineage that is one frame instead of most of a second (bench/lineage_page.py). Nodes stay ordinary
// links (<a> elements graphviz wrote from each node's URL); a drag never opens one.
(function () {
  "use strict";
  var MIN_SCALE = 0.01, MAX_SCALE = 8, STEP = 1.25, DRAG_SLOP = 4, READABLE = 0.6, FIT_MAX = 1.5;

  function setup(viewport) {
    var svg = viewport.querySelector("svg");
    if (!svg || !svg.viewBox || !svg.viewBox.baseVal) return;
    var box = svg.viewBox.baseVal;
    var full = { x: box.x, y: box.y, w: Math.max(box.width, 1), h: Math.max(box.height, 1) };
    var view = { tx: 0, ty: 0, s: 1 };  // screen = t + s * (svg unit - full origin)
    var frame = 0;

    svg.style.position = "absolute";
    svg.style.left = "0";
    svg.style.top = "0";
    svg.style.width = full.w + "px";
    svg.style.height = full.h + "px";
    svg.style.transformOrigin = "0 0";
    viewport.classList.add("interactive");

    function size() { return { w: Math.max(viewport.clientWidth, 1), h: Math.max(viewport.clientHeight, 1) }; }
    function clamp(s) { return Math.min(MAX_SCALE, Math.max(MIN_SCALE, s)); }
    function draw() {
      frame = 0;
      svg.style.transform = "translate(" + view.tx.toFixed(1) + "px," + view.ty.toFixed(1) + "px) scale(" +
        view.s.toFixed(5) + ")";
      viewport.dataset.scale = view.s.toFixed(4);
      viewport.dataset.offset = view.tx.toFixed(0) + "," + view.ty.toFixed(0);
    }
    function schedule() { if (!frame) frame = requestAnimationFrame(draw); }
    function fitScale() { var px = size(); return Math.min(FIT_MAX, 0.95 * Math.min(px.w / full.w, px.h / full.h)); }
    function centreOn(ux, uy, s) {
      var px = size();
      view = { tx: px.w / 2 - s * ux, ty: px.h / 2 - s * uy, s: s };
      schedule();
    }
    function fit() { centreOn(full.w / 2, full.h / 2, clamp(fitScale())); }
    function zoomAt(factor, x, y) {
      // keep the point under (x, y) (viewport pixels) where it is
      var s2 = clamp(view.s * factor), k = s2 / view.s;
      view = { tx: x - (x - view.tx) * k, ty: y - (y - view.ty) * k, s: s2 };
      schedule();
    }
    function zoom(factor) { var px = size(); zoomAt(factor, px.w / 2, px.h / 2); }
    function panBy(dx, dy) { view.tx += dx; view.ty += dy; schedule(); }
    function focusNode(name) {
      // the node graphviz titled with this DOT id ("d<knit id>", "p<plan id>"), centred at actual size
      var titles = svg.querySelectorAll("g.node > title");
      for (var i = 0; i < titles.length; i++) {
        if (titles[i].textContent !== name) continue;
        var node = titles[i].parentNode, b = node.getBBox();
        var nodeCtm = node.getScreenCTM(), svgCtm = svg.getScreenCTM();
        if (!nodeCtm || !svgCtm) return false;
        var p = svg.createSVGPoint();
        p.x = b.x + b.width / 2;
        p.y = b.y + b.height / 2;
        p = p.matrixTransform(nodeCtm).matrixTransform(svgCtm.inverse());
        centreOn(p.x - full.x, p.y - full.y, 1);
        return true;
      }
      return false;
    }

    // start: the whole graph when it is readable that way, else actual size around the focus node (or the top)
    fit();
    draw();
    if (fitScale() < READABLE && !focusNode(viewport.dataset.focus || "")) {
      var px = size();
      view = { tx: px.w / 2 - full.w / 2, ty: 20, s: 1 };
      schedule();
    }

    viewport.addEventListener("wheel", function (e) {
      e.preventDefault();
      var r = viewport.getBoundingClientRect();
      var unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? r.height : 1;
      zoomAt(Math.exp(-e.deltaY * unit * 0.0015), e.clientX - r.left, e.clientY - r.top);
    }, { passive: false });

    var drag = null, dragged = false;
    viewport.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) return;
      drag = { id: e.pointerId, x: e.clientX, y: e.clientY, moving: false };
      dragged = false;
    });
    viewport.addEventListener("pointermove", function (e) {
      if (!drag || e.pointerId !== drag.id) return;
      var dx = e.clientX - drag.x, dy = e.clientY - drag.y;
      if (!drag.moving && Math.abs(dx) + Math.abs(dy) < DRAG_SLOP) return;
      if (!drag.moving) {
        // capture only once it is a drag: capturing earlier would send a plain click to the viewport, not the node
        drag.moving = true;
        viewport.setPointerCapture(e.pointerId);
        viewport.classList.add("dragging");
      }
      drag.x = e.clientX;
      drag.y = e.clientY;
      panBy(dx, dy);
    });
    function endDrag(e) {
      if (!drag || e.pointerId !== drag.id) return;
      dragged = drag.moving;
      drag = null;
      viewport.classList.remove("dragging");
    }
    viewport.addEventListener("pointerup", endDrag);
    viewport.addEventListener("pointercancel", endDrag);
    viewport.addEventListener("click", function (e) {
      if (dragged) { e.preventDefault(); e.stopPropagation(); dragged = false; }
    }, true);

    viewport.addEventListener("keydown", function (e) {
      var keys = {
        "+": function () { zoom(STEP); }, "=": function () { zoom(STEP); }, "-": function () { zoom(1 / STEP); },
        "0": fit, "1": function () { zoom(1 / view.s); },
        ArrowLeft: function () { panBy(60, 0); }, ArrowRight: function () { panBy(-60, 0); },
        ArrowUp: function () { panBy(0, 60); }, ArrowDown: function () { panBy(0, -60); }
      };
      if (keys[e.key] && !e.ctrlKey && !e.metaKey && !e.altKey) { e.preventDefault(); keys[e.key](); }
    });

    var tools = viewport.closest(".graph-box") || viewport.parentNode;
    tools.querySelectorAll("[data-zoom]").forEach(function (button) {
      button.addEventListener("click", function () {
        var what = button.getAttribute("data-zoom");
        if (what === "in") zoom(STEP);
        else if (what === "out") zoom(1 / STEP);
        else if (what === "fit") fit();
        else if (what === "one") zoom(1 / view.s);
      });
    });
    viewport.dataset.ready = "1";
  }

  function start() {
    // inside Airflow's own page (its plugin iframe) the link back to Airflow is redundant
    if (window.top !== window.self) document.documentElement.classList.add("framed");
    document.querySelectorAll(".graph-viewport").forEach(setup);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
