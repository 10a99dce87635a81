'use strict';

// plotly.js with only the traces the LIMS draws (assays/charts.py): scatter (in the core),
// scattergl in its CSP-safe "strict" form (precompiled regl shaders, no Function()), and bar.
var Plotly = require('plotly.js/lib/core');

Plotly.register([require('plotly.js/lib/bar'), require('plotly.js/src/traces/scattergl/strict')]);

module.exports = Plotly;
