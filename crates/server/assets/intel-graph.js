// The link chart: draws the graph the server placed in data-graph with Cytoscape.js, at the
// positions the server computed (tearline_intel::layout), so the same graph always draws the
// same picture and no labels overlap. Reports are squares, entities circles coloured by kind
// (the colours are the legend's, read from tearline.css); a corroborated entity has a thick
// outline. Clicking a report opens it. The page works without this script: the
// corroboration table below the chart says the same in words.
'use strict';
(function () {
  const element = document.querySelector('[data-graph]');
  if (!element || typeof cytoscape !== 'function') return;
  const data = JSON.parse(element.dataset.graph);
  const css = getComputedStyle(document.documentElement);
  const colour = (kind) => css.getPropertyValue(`--kind-${kind}`).trim() || '#555';
  const elements = data.nodes.map((node) => ({ data: node, position: { x: node.x, y: node.y } }))
    .concat(data.edges.map((edge, i) => ({ data: { id: `l${i}`, source: edge.source, target: edge.target } })));
  const chart = cytoscape({
    container: element,
    elements,
    layout: { name: 'preset', fit: true, padding: 30 },
    autoungrabify: true,
    wheelSensitivity: 0.3,
    style: [
      { selector: 'node', style: { label: 'data(label)', 'font-size': 10, 'text-wrap': 'none', 'background-color': (n) => colour(n.data('kind')), color: '#222', 'text-valign': 'bottom', 'text-margin-y': 4, width: 18, height: 18 } },
      { selector: 'node[kind = "report"]', style: { shape: 'round-rectangle', width: 24, height: 24 } },
      { selector: 'node[?corroborated]', style: { 'border-width': 5, 'border-color': colour('corroborated') } },
      { selector: 'edge', style: { width: 1.5, 'line-color': '#9aa7b4', 'curve-style': 'straight' } },
    ],
  });
  chart.on('tap', 'node[kind = "report"]', (event) => { window.location.href = event.target.data('href'); });
  element.dataset.ready = String(chart.nodes().length);
})();
