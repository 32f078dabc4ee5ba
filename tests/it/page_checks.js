// Injected by tests/it/html.rs into a copy of the page, which the test shows in an iframe of
// the screen's width (Chromium's window is never narrower than 500 pixels): measures the
// laid-out page and writes what it found as JSON into a <pre id="checks"> of the outer page,
// which the test reads from --dump-dom. Runs at the end of <body>, when all is laid out.
(() => {
  const width = innerWidth;
  const visible = r => r.width > 0 && r.height > 0;
  const outside = [];
  for (const el of document.body.querySelectorAll('*')) {
    const r = el.getBoundingClientRect();
    if (visible(r) && (r.left < -1 || r.right > width + 1)) {
      outside.push(`${el.tagName} ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  const overlap = (a, b) =>
    a.left < b.right - 1 && b.left < a.right - 1 && a.top < b.bottom - 1 && b.top < a.bottom - 1;
  const charts = {};
  for (const figure of document.querySelectorAll('figure[data-chart]')) {
    const svg = [...figure.querySelectorAll('svg')].find(s => visible(s.getBoundingClientRect()));
    if (!svg) {
      charts[figure.dataset.chart] = null;
      continue;
    }
    const box = svg.getBoundingClientRect();
    const texts = [...svg.querySelectorAll('text')]
      .filter(t => t.textContent.trim() !== '')
      .map(t => ({ text: t.textContent, r: t.getBoundingClientRect() }))
      .filter(t => visible(t.r));
    const overlapping = [];
    texts.forEach((a, i) => texts.slice(i + 1).forEach(b => {
      if (overlap(a.r, b.r)) overlapping.push(`${a.text} / ${b.text}`);
    }));
    // The x axis: the longest horizontal black line is the plot's width.
    const axes = [...svg.querySelectorAll('line, polyline')]
      .filter(l => l.getAttribute('stroke') === '#000000')
      .map(l => l.getBoundingClientRect())
      .filter(r => r.height < 1)
      .sort((a, b) => b.width - a.width);
    const axis = axes.length ? axes[0].width : 0;
    // Legend swatches (12x12) above the x axis sit inside the plot, among the data.
    const swatches = [...svg.querySelectorAll('rect')].filter(rect =>
      Number(rect.getAttribute('width')) === 12 && Number(rect.getAttribute('height')) === 12);
    const swatches_in_plot = axes.length
      ? swatches.filter(rect => rect.getBoundingClientRect().top < axes[0].top).length
      : 0;
    // Bars: the data rects, summed per row (a row is one top edge), top to bottom. Legend
    // swatches are 12x12 and left out.
    const rows = new Map();
    for (const rect of svg.querySelectorAll('rect')) {
      const fill = (rect.getAttribute('fill') || '').toUpperCase();
      const r = rect.getBoundingClientRect();
      if (!['#0072B2', '#D55E00'].includes(fill) || !visible(r)) continue;
      if (Number(rect.getAttribute('width')) === 12 && Number(rect.getAttribute('height')) === 12) continue;
      const key = Math.round(r.top);
      rows.set(key, (rows.get(key) || 0) + r.width);
    }
    charts[figure.dataset.chart] = {
      width: box.width,
      left: box.left,
      right: box.right,
      plot_width: axis,
      swatches_in_plot,
      bar_widths: [...rows.entries()].sort((a, b) => a[0] - b[0]).map(e => e[1]),
      overlapping,
      smallest_text: Math.min(...texts.map(t => t.r.height)),
      title: svg.querySelector('title')?.textContent ?? null,
      desc: svg.querySelector('desc')?.textContent ?? null,
    };
  }
  // Words broken across two lines in table cells. A line may break between words and after
  // an underscore (the page offers a break there), never inside a word or a number.
  const broken = [];
  for (const td of document.querySelectorAll('td')) {
    const walker = document.createTreeWalker(td, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const word of node.data.matchAll(/[^\s_]+_?/g)) {
        const range = document.createRange();
        range.setStart(node, word.index);
        range.setEnd(node, word.index + word[0].length);
        const lines = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
        if (lines.size > 1) broken.push(word[0]);
      }
    }
  }
  const result = {
    width,
    scroll_width: document.documentElement.scrollWidth,
    outside,
    broken_words: broken.slice(0, 20),
    charts,
    dark: matchMedia('(prefers-color-scheme: dark)').matches,
    background: getComputedStyle(document.body).backgroundColor,
    tables_visible: [...document.querySelectorAll('table')].filter(t => visible(t.getBoundingClientRect())).length,
  };
  const pre = document.createElement('pre');
  pre.id = 'checks';
  pre.textContent = JSON.stringify(result);
  parent.document.body.append(pre);
})();
