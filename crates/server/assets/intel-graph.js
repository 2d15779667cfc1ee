// The link chart: draws the graph the server placed in data-graph with Cytoscape.js.
// Reports are squares, entities circles coloured by kind; a corroborated entity has a thick
// outline. Clicking a report opens it. The page works without this script: the
// corroboration table below the chart says the same in words.
'use strict';
(function () {
  const element = document.querySelector('[data-graph]');
  if (!element || typeof cytoscape !== 'function') return;
  const data = JSON.parse(element.dataset.graph);
  const colours = { report: '#1b3a57', person: '#b3261e', organisation: '#7a4fb3', place: '#1f7a3a', vehicle: '#c77700', phone: '#0b6e8a' };
  const elements = data.nodes.map((node) => ({ data: node }))
    .concat(data.edges.map((edge, i) => ({ data: { id: `l${i}`, source: edge.source, target: edge.target } })));
  const chart = cytoscape({
    container: element,
    elements,
    layout: { name: 'cose', animate: false, randomize: false, nodeRepulsion: 9000, idealEdgeLength: 90 },
    style: [
      { selector: 'node', style: { label: 'data(label)', 'font-size': 10, 'text-wrap': 'wrap', 'text-max-width': 140, 'background-color': (n) => colours[n.data('kind')] || '#555', color: '#222', 'text-valign': 'bottom', 'text-margin-y': 4 } },
      { selector: 'node[kind = "report"]', style: { shape: 'round-rectangle', width: 26, height: 26 } },
      { selector: 'node[?corroborated]', style: { 'border-width': 5, 'border-color': '#f0c36d' } },
      { selector: 'edge', style: { width: 1.5, 'line-color': '#9aa7b4', 'curve-style': 'bezier' } },
    ],
  });
  chart.on('tap', 'node[kind = "report"]', (event) => { window.location.href = event.target.data('href'); });
  element.dataset.ready = String(chart.nodes().length);
})();
