// The netseg report draws itself from the JSON embedded beside this script. Text from the manifests only ever goes
// through textContent and setAttribute, never through markup, so a name or an annotation cannot become script.
// The page logs nothing to the console: a console line while it loads is a fault, and the browser test says so.
(function () {
  'use strict';

  const SVG_NS = "http://www.w3.org/2000/svg";
  /** Above this many workloads, the graph starts with every namespace folded into one box. */
  const EXPAND_ALL_UP_TO = 150;
  /** Above this many visible edges, only the selection's edges are drawn. */
  const MAX_DRAWN_EDGES = 2500;
  /** As `netseg blast-radius --max-hops`' default. */
  const MAX_HOPS = 5;
  const SEVERITIES = ['critical', 'high', 'medium', 'low', 'info'];
  const ROWS_PER_PAGE = 500;

  const check = { errors: [], csp: 0 };
  window.addEventListener('error', (e) => check.errors.push(String(e.message)));
  document.addEventListener('securitypolicyviolation', (e) => {
    check.csp += 1;
    check.errors.push('blocked by the content security policy: ' + e.violatedDirective);
  });

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (key === 'on') {
        for (const [type, handler] of Object.entries(value)) node.addEventListener(type, handler);
      } else if (value !== undefined && value !== null && value !== false) {
        node.setAttribute(key, String(value));
      }
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === 'string' || typeof child === 'number' ? document.createTextNode(String(child)) : child);
    }
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG_NS, tag);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, String(value));
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const data = JSON.parse(document.getElementById('netseg-data').textContent);
  const app = document.getElementById('app');

  // ---- header and summary ----------------------------------------------------------------------------------------

  function header() {
    const title = data.report === 'audit' ? 'netseg audit' : (data.title || 'netseg');
    return el('header', {},
      el('h1', {}, title),
      el('p', { class: 'meta' }, 'input: ', el('code', {}, (data.inputs || []).join(' ')), ' · ', data.generator || ''));
  }

  function summary() {
    const s = data.summary;
    const chips = SEVERITIES.map((sev) =>
      el('span', { class: 'chip sev-' + sev, 'data-severity': sev }, el('b', {}, String(s.counts[sev] || 0)), ' ' + sev));
    if (s.suppressed) chips.push(el('span', { class: 'chip' }, el('b', {}, String(s.suppressed)), ' suppressed'));
    const cni = s.cni.enforced
      ? 'CNI: ' + s.cni.name + ' (policies analysed as enforced)'
      : 'CNI: ' + s.cni.name + ' does not enforce NetworkPolicy: everything below describes the effective, allow-all network';
    const namespaces = data.namespaces || [];
    const segmented = namespaces.filter((n) => n.segmented).length;
    const rows = namespaces.map((n) => {
      const governed = n.workloads - n.hostNetwork;
      return el('tr', { class: n.segmented ? 'ok' : 'bad' },
        el('td', {}, n.name),
        el('td', { class: 'num' }, n.workloads),
        el('td', { class: 'num' }, n.ingressIsolated + ' / ' + governed),
        el('td', { class: 'num' }, n.egressIsolated + ' / ' + governed),
        el('td', { class: 'num' }, n.hostNetwork || ''),
        el('td', {}, n.segmented ? 'segmented' : 'not segmented'));
    });
    const table = el('table', { class: 'namespaces' },
      el('thead', {}, el('tr', {}, ['namespace', 'workloads', 'ingress isolated', 'egress isolated', 'host network', ''].map((h) => el('th', {}, h)))),
      el('tbody', {}, rows));
    const details = el('details', { open: namespaces.length <= 20 ? 'open' : null },
      el('summary', {}, segmented + ' of ' + namespaces.length + ' namespaces segmented (every workload isolated for ingress and egress)'),
      table);
    return el('section', { id: 'summary' },
      el('h2', {}, 'Summary'),
      el('div', { class: 'chips' }, chips),
      el('p', { class: s.cni.enforced ? 'cni' : 'cni bad' }, cni),
      (s.assumptions || []).length ? el('ul', { class: 'assumptions' }, s.assumptions.map((a) => el('li', {}, 'assumed: ' + a))) : null,
      exemptions(s.exempt || []),
      details);
  }

  // Workloads that some rules leave alone by design, each with the reason: nothing is left out silently.
  function exemptions(exempt) {
    if (!exempt.length) return null;
    const items = exempt.map((x) => el('li', {},
      el('b', {}, x.resource.namespace + '/' + x.resource.name + '[' + x.resource.kind + ']'),
      ' (' + x.rules + '): ' + x.reason));
    return el('details', { id: 'exempt', open: exempt.length <= 10 ? 'open' : null },
      el('summary', {}, exempt.length + ' workload' + (exempt.length === 1 ? '' : 's') + ' exempt from some rules'),
      el('ul', { class: 'exempt' }, items));
  }

  // ---- broken flows: what the application declares or was seen doing that the policies deny (NS147), first ------

  function brokenFlows() {
    const broken = data.findings.filter((f) => f.rule === 'NS147' && !f.suppressed);
    if (!broken.length) return null;
    const items = broken.map((f) => el('li', { class: 'broken-flow' },
      el('b', {}, f.message),
      f.evidence ? el('div', {}, 'evidence: ' + f.evidence) : null,
      el('div', {}, 'fix: ' + f.remediation),
      f.witness ? el('div', {}, 'check: ', el('code', {}, witnessCommand(f.witness))) : null));
    return el('section', { id: 'broken-flows' },
      el('h2', {}, 'Broken flows'),
      el('p', {}, broken.length + ' flow' + (broken.length === 1 ? '' : 's') +
        ' that the application declares or was seen making, denied by the policies (red dashed on the graph)'),
      el('ul', {}, items));
  }

  // ---- findings --------------------------------------------------------------------------------------------------

  function findingNamespace(f) {
    if (f.resource.namespace) return f.resource.namespace;
    if (f.resource.kind === 'Namespace') return f.resource.name;
    return '(cluster)';
  }

  function resourceName(f) {
    return f.resource.namespace ? f.resource.namespace + '/' + f.resource.name + '[' + f.resource.kind + ']'
      : f.resource.kind + ' ' + f.resource.name;
  }

  function locationText(f) {
    return f.location ? f.location.file + ':' + f.location.line : '';
  }

  function witnessCommand(w) {
    if (w.command) return w.command;
    return "netseg can --from '" + w.from + "' --to '" + w.to + "' --protocol " + w.protocol + ' --port ' + w.port;
  }

  function findings() {
    const all = data.findings.map((f, index) => ({ f, index, ns: findingNamespace(f), resource: resourceName(f), location: locationText(f) }));
    const state = { severity: '', rule: '', namespace: '', text: '', suppressed: false, sort: 'severity', descending: false, shown: ROWS_PER_PAGE };
    const options = (values) => [el('option', { value: '' }, 'all')].concat(values.map((v) => el('option', { value: v }, v)));
    const unique = (values) => Array.from(new Set(values)).sort();
    const severity = el('select', { id: 'filter-severity' }, options(SEVERITIES));
    const rule = el('select', { id: 'filter-rule' }, options(unique(all.map((x) => x.f.rule + ' ' + x.f.name))));
    const namespace = el('select', { id: 'filter-namespace' }, options(unique(all.map((x) => x.ns))));
    const text = el('input', { id: 'filter-text', type: 'search', placeholder: 'search resources, messages, files' });
    const suppressed = el('input', { id: 'filter-suppressed', type: 'checkbox' });
    const count = el('span', { class: 'count' });
    const body = el('tbody', {});
    const more = el('button', { type: 'button', class: 'more' }, 'show more');
    const columns = [['severity', 'severity'], ['rule', 'rule'], ['resource', 'resource'], ['namespace', 'namespace'], ['location', 'location'], ['message', 'finding']];
    const heads = columns.map(([key, label]) => el('th', { 'data-sort': key, tabindex: 0 }, label));

    const keyOf = {
      severity: (x) => SEVERITIES.indexOf(x.f.severity),
      rule: (x) => x.f.rule,
      resource: (x) => x.resource,
      namespace: (x) => x.ns,
      location: (x) => x.location,
      message: (x) => x.f.message,
    };

    function visible() {
      const needle = state.text.toLowerCase();
      const rows = all.filter((x) =>
        (state.suppressed || !x.f.suppressed)
        && (!state.severity || x.f.severity === state.severity)
        && (!state.rule || x.f.rule + ' ' + x.f.name === state.rule)
        && (!state.namespace || x.ns === state.namespace)
        && (!needle || [x.resource, x.f.message, x.f.evidence, x.location, x.f.rule, x.f.name].some((t) => String(t).toLowerCase().includes(needle))));
      const key = keyOf[state.sort];
      rows.sort((a, b) => {
        const ka = key(a), kb = key(b);
        const order = ka < kb ? -1 : ka > kb ? 1 : a.index - b.index;
        return state.descending ? -order : order;
      });
      return rows;
    }

    function detail(x) {
      const f = x.f;
      return el('tr', { class: 'detail' }, el('td', { colspan: columns.length },
        f.evidence ? el('p', {}, el('b', {}, 'evidence: '), f.evidence) : null,
        el('p', {}, el('b', {}, 'fix: '), f.remediation),
        f.witness ? el('p', {}, el('b', {}, 'check: '), el('code', {}, witnessCommand(f.witness))) : null,
        f.suppressed ? el('p', {}, el('b', {}, 'suppressed: '), f.suppressed) : null));
    }

    function draw() {
      const rows = visible();
      body.replaceChildren();
      for (const x of rows.slice(0, state.shown)) {
        const row = el('tr', { class: 'finding sev-' + x.f.severity + (x.f.suppressed ? ' suppressed' : ''), tabindex: 0 },
          el('td', {}, el('span', { class: 'sev sev-' + x.f.severity }, x.f.severity)),
          el('td', {}, el('b', {}, x.f.rule), ' ' + x.f.name),
          el('td', {}, el('code', {}, x.resource)),
          el('td', {}, x.ns),
          el('td', { class: 'location' }, x.location),
          el('td', {}, x.f.message));
        let open = null;
        const toggle = () => {
          if (open) { open.remove(); open = null; } else { open = detail(x); row.after(open); }
        };
        row.addEventListener('click', toggle);
        row.addEventListener('keydown', (e) => { if (e.key === 'Enter') toggle(); });
        body.append(row);
      }
      count.textContent = rows.length + ' of ' + all.length + ' findings' + (rows.length > state.shown ? ' (first ' + state.shown + ' shown)' : '');
      more.hidden = rows.length <= state.shown;
      for (const head of heads) {
        head.className = head.dataset.sort === state.sort ? (state.descending ? 'sorted desc' : 'sorted') : '';
      }
    }

    const bind = (control, key, value) => control.addEventListener(control.type === 'search' ? 'input' : 'change', () => {
      state[key] = value(control);
      state.shown = ROWS_PER_PAGE;
      draw();
    });
    bind(severity, 'severity', (c) => c.value);
    bind(rule, 'rule', (c) => c.value);
    bind(namespace, 'namespace', (c) => c.value);
    bind(text, 'text', (c) => c.value);
    bind(suppressed, 'suppressed', (c) => c.checked);
    more.addEventListener('click', () => { state.shown += ROWS_PER_PAGE; draw(); });
    for (const head of heads) {
      const sort = () => {
        if (state.sort === head.dataset.sort) state.descending = !state.descending;
        else { state.sort = head.dataset.sort; state.descending = false; }
        draw();
      };
      head.addEventListener('click', sort);
      head.addEventListener('keydown', (e) => { if (e.key === 'Enter') sort(); });
    }
    draw();
    return el('section', { id: 'findings' },
      el('h2', {}, 'Findings'),
      el('div', { class: 'filters' },
        el('label', {}, 'severity ', severity), el('label', {}, 'rule ', rule), el('label', {}, 'namespace ', namespace),
        text, el('label', {}, suppressed, ' suppressed'), count),
      el('table', { class: 'findings' }, el('thead', {}, el('tr', {}, heads)), body),
      more);
  }

  // ---- graph -----------------------------------------------------------------------------------------------------

  function graphSection() {
    const g = data.graph;
    const nodes = g.nodes.map((n, index) => ({ index, ns: n[0], id: n[1], label: n[2], kind: n[3], detail: n[4] }));
    const members = g.namespaces.map(() => []);
    const outside = [];
    for (const n of nodes) (n.ns >= 0 ? members[n.ns] : outside).push(n.index);
    // Every edge as a group: each node of `from` reaches each node of `to` but itself. Compact edges name a node
    // or a whole namespace on each side; groups come as runs of node indexes.
    const runs = (r) => {
      const out = [];
      for (let i = 0; i + 1 < r.length; i += 2) for (let k = 0; k < r[i + 1]; k++) out.push(r[i] + k);
      return out;
    };
    const groups = g.edges.map((e) => ({
      from: e[0] >= 2 ? members[e[1]] : [e[1]],
      to: e[0] === 1 || e[0] === 3 ? members[e[2]] : [e[2]],
      label: g.labels[e[3]],
      style: g.styles[e[4]],
    })).concat((g.groups || []).map((x) => ({ from: runs(x[0]), to: runs(x[1]), label: g.labels[x[2]], style: g.styles[x[3]] })));
    const inNamespaces = nodes.length - outside.length;
    const expanded = new Set(inNamespaces <= EXPAND_ALL_UP_TO ? g.namespaces.map((_, i) => i) : []);
    let selected = null; // node index
    let blast = null; // Map node index → hops
    const sensitiveHit = new Set(); // of the current blast radius

    // Successors for the blast radius: removed edges are gone and broken flows connect nothing; each group is followed once.
    const groupsFrom = nodes.map(() => []);
    groups.forEach((gr, i) => {
      if (gr.style === 'removed' || gr.style === 'broken') return;
      for (const n of gr.from) groupsFrom[n].push(i);
    });
    // Datastores per namespace, for the folded boxes.
    const datastores = g.namespaces.map((_, ns) => members[ns].filter((i) => nodes[i].kind === 'datastore').length);

    // As `netseg blast-radius`: workloads up to MAX_HOPS away, and the addresses outside the cluster that any of
    // them reaches, one hop further. A target counts as sensitive when it is a sensitive address, or when the hop
    // that first reached it is into a sensitive port (a datastore reached on its metrics port is not).
    function blastRadius(origin) {
      const hops = new Map([[origin, 0]]);
      const used = new Set();
      let frontier = [origin];
      for (let hop = 1; hop <= MAX_HOPS + 1 && frontier.length; hop++) {
        const next = [];
        let style = 'normal';
        const reach = (target) => {
          if (hops.has(target) || (hop > MAX_HOPS && nodes[target].ns >= 0)) return;
          hops.set(target, hop);
          if (style === 'sensitive' || nodes[target].kind === 'sensitive') sensitiveHit.add(target);
          next.push(target);
        };
        for (const w of frontier) {
          for (const i of groupsFrom[w]) {
            if (used.has(i)) continue;
            used.add(i);
            style = groups[i].style;
            for (const t of groups[i].to) reach(t);
          }
        }
        frontier = next;
      }
      hops.delete(origin);
      return hops;
    }

    const unitOfNode = (i) => (nodes[i].ns < 0 || expanded.has(nodes[i].ns) ? 'n' + i : 's' + nodes[i].ns);
    const unitsOfNamespace = (ns) => (expanded.has(ns) ? members[ns].map((i) => 'n' + i) : ['s' + ns]);

    /** Above this many box pairs to merge, only those of the selection are merged (a flat cluster of a thousand
     * namespaces connects a million pairs of boxes). */
    const MAX_MERGED = 250000;

    // Connections between the boxes shown, each with its labels and how many node pairs it stands for.
    function visibleEdges(focus) {
      const merged = new Map();
      const tally = (list) => {
        const counts = new Map();
        for (const n of list) { const u = unitOfNode(n); counts.set(u, (counts.get(u) || 0) + 1); }
        return counts;
      };
      const tallies = groups.map((gr) => [tally(gr.from), tally(gr.to)]);
      const total = tallies.reduce((sum, [a, b]) => sum + a.size * b.size, 0);
      const partial = total > MAX_MERGED;
      groups.forEach((gr, i) => {
        const [from, to] = tallies[i];
        for (const [a, ca] of from) {
          if (partial && a !== focus && !to.has(focus)) continue;
          for (const [b, cb] of to) {
            if (a === b || (partial && a !== focus && b !== focus)) continue;
            const key = a + '>' + b + '>' + gr.style;
            let m = merged.get(key);
            if (!m) { m = { from: a, to: b, style: gr.style, labels: new Set(), pairs: 0 }; merged.set(key, m); }
            m.labels.add(gr.label);
            m.pairs += ca * cb;
          }
        }
      });
      return { edges: Array.from(merged.values()), partial, total };
    }

    // Namespace boxes packed in rows; nodes outside every namespace in a column on the right.
    const CELL_W = 176, CELL_H = 48, PAD = 12, HEAD = 30, GAP = 28;
    function layout(width) {
      const boxes = new Map(); // unit → {x, y, w, h}
      const frames = []; // expanded namespace frames
      let x = GAP, y = GAP, rowHeight = 0, right = 0;
      g.namespaces.forEach((name, ns) => {
        let w, h;
        const open = expanded.has(ns);
        const count = members[ns].length;
        // As square as the namespace allows, but never wider than the drawing.
        const fit = Math.max(1, Math.floor((width - 2 * GAP - 2 * PAD) / CELL_W));
        const cols = open ? Math.max(1, Math.min(8, fit, Math.ceil(Math.sqrt(count)))) : 1;
        if (open) {
          w = cols * CELL_W + 2 * PAD;
          h = HEAD + Math.ceil(count / cols) * CELL_H + PAD;
        } else {
          w = CELL_W; h = 58;
        }
        if (x + w > width && x > GAP) { x = GAP; y += rowHeight + GAP; rowHeight = 0; }
        if (open) {
          frames.push({ ns, x, y, w, h });
          members[ns].forEach((node, k) => {
            boxes.set('n' + node, { x: x + PAD + (k % cols) * CELL_W, y: y + HEAD + Math.floor(k / cols) * CELL_H, w: CELL_W - 12, h: CELL_H - 10 });
          });
        } else {
          boxes.set('s' + ns, { x, y, w, h });
        }
        right = Math.max(right, x + w);
        x += w + GAP;
        rowHeight = Math.max(rowHeight, h);
      });
      const columnX = right + GAP * 2;
      let columnY = GAP;
      for (const node of outside) {
        boxes.set('n' + node, { x: columnX, y: columnY, w: CELL_W + 20, h: 52 });
        columnY += 52 + GAP;
      }
      return { boxes, frames, width: columnX + (outside.length ? CELL_W + 20 + GAP : 0), height: Math.max(y + rowHeight, columnY) + GAP };
    }

    function border(box, toward) {
      const cx = box.x + box.w / 2, cy = box.y + box.h / 2;
      const dx = toward.x - cx, dy = toward.y - cy;
      if (dx === 0 && dy === 0) return { x: cx, y: cy };
      const scale = Math.min(dx ? box.w / 2 / Math.abs(dx) : Infinity, dy ? box.h / 2 / Math.abs(dy) : Infinity);
      return { x: cx + dx * scale, y: cy + dy * scale };
    }
    const centre = (box) => ({ x: box.x + box.w / 2, y: box.y + box.h / 2 });

    const canvas = el('div', { class: 'canvas' });
    const note = el('p', { class: 'note' });
    const panel = el('aside', { id: 'blast', class: 'blast' });
    let zoom = 1;

    function nodeTitle(n) {
      return n.id + (n.detail ? '\n' + n.detail : '');
    }

    function unitClass(unit) {
      if (!blast) return '';
      if (unit[0] === 'n') {
        const i = Number(unit.slice(1));
        return i === selected ? ' origin' : blast.has(i) ? ' reached' : ' dim';
      }
      const ns = Number(unit.slice(1));
      return members[ns].some((i) => i === selected || blast.has(i)) ? ' reached' : ' dim';
    }

    function reachedUnit(unit) {
      if (!blast) return false;
      if (unit[0] === 'n') { const i = Number(unit.slice(1)); return i === selected || blast.has(i); }
      return members[Number(unit.slice(1))].some((i) => i === selected || blast.has(i));
    }

    function draw() {
      // Namespaces fill the visible width, less the column of addresses outside them.
      const width = Math.max(560, (canvas.clientWidth || 1200) / zoom - (outside.length ? CELL_W + 20 + 3 * GAP : 0));
      const { boxes, frames, width: w, height: h } = layout(width);
      const root = svg('svg', { id: 'graph', width: Math.round(w * zoom), height: Math.round(h * zoom), viewBox: '0 0 ' + Math.ceil(w) + ' ' + Math.ceil(h), role: 'img' });
      root.append(svg('title', {}, 'who can reach whom: ' + nodes.length + ' endpoints'));
      const defs = svg('defs');
      for (const style of g.styles) {
        const marker = svg('marker', { id: 'arrow-' + style, viewBox: '0 0 10 10', refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: 'auto-start-reverse' });
        marker.append(svg('path', { d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrow ' + style }));
        defs.append(marker);
      }
      root.append(defs);
      const frameLayer = svg('g', { class: 'frames' });
      const edgeLayer = svg('g', { class: 'edges' });
      const unitLayer = svg('g', { class: 'units' });
      root.append(frameLayer, edgeLayer, unitLayer);

      for (const f of frames) {
        const frame = svg('g', { class: 'frame' + (blast ? (members[f.ns].some((i) => i === selected || blast.has(i)) ? ' reached' : ' dim') : ''), 'data-namespace': g.namespaces[f.ns] });
        frame.append(svg('rect', { x: f.x, y: f.y, width: f.w, height: f.h, rx: 8 }));
        const head = svg('text', { x: f.x + PAD, y: f.y + 20, class: 'frame-head' }, 'namespace ' + g.namespaces[f.ns] + '  ▾');
        head.append(svg('title', {}, 'fold namespace ' + g.namespaces[f.ns] + ' into one box'));
        head.addEventListener('click', (e) => { e.stopPropagation(); expanded.delete(f.ns); draw(); });
        frame.append(head);
        frameLayer.append(frame);
      }

      const focus = selected === null ? null : unitOfNode(selected);
      const { edges: all, partial, total } = visibleEdges(focus);
      const tooMany = partial || all.length > MAX_DRAWN_EDGES;
      let drawn = 0;
      for (const e of all) {
        const a = boxes.get(e.from), b = boxes.get(e.to);
        if (!a || !b) continue;
        const highlighted = blast && reachedUnit(e.from) && reachedUnit(e.to) && e.to !== focus;
        // Too many to draw: only the selection's own connections, which are at most one per box.
        if (tooMany && e.from !== focus) continue;
        const start = border(a, centre(b)), end = border(b, centre(a));
        // A slight bend tells A→B from B→A.
        const mx = (start.x + end.x) / 2 + (end.y - start.y) * 0.08, my = (start.y + end.y) / 2 - (end.x - start.x) * 0.08;
        const path = svg('path', {
          d: 'M ' + start.x.toFixed(1) + ' ' + start.y.toFixed(1) + ' Q ' + mx.toFixed(1) + ' ' + my.toFixed(1) + ' ' + end.x.toFixed(1) + ' ' + end.y.toFixed(1),
          class: 'edge ' + e.style + (blast ? (highlighted ? ' hot' : ' dim') : ''),
          'marker-end': 'url(#arrow-' + e.style + ')',
        });
        const name = (unit) => (unit[0] === 'n' ? nodes[Number(unit.slice(1))].id : 'namespace ' + g.namespaces[Number(unit.slice(1))]);
        const pairs = e.pairs === 1 ? '' : ' (' + e.pairs.toLocaleString('en') + ' workload pairs)';
        path.append(svg('title', {}, name(e.from) + ' → ' + name(e.to) + pairs + (e.style === 'normal' ? '' : ' (' + e.style + ')') + '\n' + Array.from(e.labels).join('\n')));
        edgeLayer.append(path);
        drawn += 1;
      }

      for (const [unit, box] of boxes) {
        const group = svg('g', { class: 'unit' + unitClass(unit), 'data-unit': unit, tabindex: 0 });
        if (unit[0] === 's') {
          const ns = Number(unit.slice(1));
          const reached = blast ? members[ns].filter((i) => blast.has(i)).length : 0;
          group.classList.add('namespace');
          group.setAttribute('data-namespace', g.namespaces[ns]);
          group.append(svg('rect', { x: box.x, y: box.y, width: box.w, height: box.h, rx: 8 }));
          group.append(svg('text', { x: box.x + 10, y: box.y + 22, class: 'name' }, g.namespaces[ns] + '  ▸'));
          const stores = datastores[ns] ? ' · ' + plural(datastores[ns], 'datastore') : '';
          group.append(svg('text', { x: box.x + 10, y: box.y + 42, class: 'sub' }, plural(members[ns].length, 'workload') + stores + (reached ? ' · ' + reached + ' reached' : '')));
          if (datastores[ns]) group.classList.add('has-datastore');
          group.append(svg('title', {}, 'namespace ' + g.namespaces[ns] + ': ' + members[ns].length + ' workloads; click to expand'));
          group.addEventListener('click', () => { expanded.add(ns); draw(); });
        } else {
          const n = nodes[Number(unit.slice(1))];
          group.classList.add(n.kind);
          group.setAttribute('data-id', n.id);
          const shape = n.kind === 'sensitive'
            ? svg('polygon', { points: [[box.x + 10, box.y], [box.x + box.w - 10, box.y], [box.x + box.w, box.y + box.h / 2], [box.x + box.w - 10, box.y + box.h], [box.x + 10, box.y + box.h], [box.x, box.y + box.h / 2]].map((p) => p.join(',')).join(' ') })
            : svg('rect', { x: box.x, y: box.y, width: box.w, height: box.h, rx: n.kind === 'datastore' ? 14 : 5 });
          group.append(shape);
          const lines = n.label.split('\n');
          group.append(svg('text', { x: box.x + 8, y: box.y + 16, class: 'name' }, clip(lines[0], 24)));
          const sub = n.detail || lines.slice(1).join(' ');
          if (sub) group.append(svg('text', { x: box.x + 8, y: box.y + 31, class: 'sub' }, clip(sub, 28)));
          if (blast && blast.has(n.index)) {
            group.append(svg('text', { x: box.x + box.w - 6, y: box.y + 16, class: 'hops', 'text-anchor': 'end' }, String(blast.get(n.index))));
          }
          group.append(svg('title', {}, nodeTitle(n) + (n.kind === 'sensitive' || n.kind === 'external' ? '' : '\nclick: its blast radius')));
          if (n.kind !== 'sensitive' && n.kind !== 'external') group.addEventListener('click', () => select(n.index));
        }
        group.addEventListener('keydown', (e) => { if (e.key === 'Enter') group.dispatchEvent(new MouseEvent('click')); });
        unitLayer.append(group);
      }
      canvas.replaceChildren(root);
      const shown = partial ? 'connections between ' + total.toLocaleString('en') + ' pairs of boxes' : all.length + ' connections between the boxes shown';
      note.textContent = shown + (tooMany ? '; ' + drawn + ' drawn (those of the selected workload): click a workload to see its own' : '')
        + (inNamespaces > EXPAND_ALL_UP_TO ? ' · ' + inNamespaces + ' workloads, folded by namespace: click a namespace to expand it' : '');
      check.graph = { units: boxes.size, edgesVisible: all.length, edgesDrawn: drawn, expanded: expanded.size };
    }

    function plural(count, word) {
      return count + ' ' + word + (count === 1 ? '' : 's');
    }

    function clip(text, length) {
      return text.length > length ? text.slice(0, length - 1) + '…' : text;
    }

    function select(index) {
      sensitiveHit.clear();
      if (selected === index) { selected = null; blast = null; }
      else { selected = index; blast = blastRadius(index); }
      drawPanel();
      draw();
    }

    function drawPanel() {
      panel.replaceChildren();
      if (selected === null) {
        panel.append(el('p', {}, 'Click a workload to see its blast radius: everything it reaches in up to ' + MAX_HOPS + ' hops.'));
        return;
      }
      const origin = nodes[selected];
      const rank = (t) => (t.n.kind === 'sensitive' ? 0 : t.sensitive ? 1 : 2);
      const targets = Array.from(blast.entries()).map(([i, hops]) => ({ n: nodes[i], hops, sensitive: sensitiveHit.has(i) }))
        .sort((a, b) => rank(a) - rank(b) || a.hops - b.hops || (a.n.id < b.n.id ? -1 : 1));
      const sensitive = targets.filter((t) => t.sensitive).length;
      const furthest = targets.reduce((m, t) => Math.max(m, t.hops), 0);
      panel.append(...[
        el('h3', {}, 'Blast radius of ', el('code', {}, origin.id)),
        el('p', { id: 'blast-count' }, targets.length + ' targets, ' + sensitive + ' sensitive, up to ' + furthest + ' hop(s)'),
        el('ol', {}, targets.slice(0, 200).map((t) => el('li', { class: t.sensitive ? 'hit' : '' }, el('code', {}, t.n.id), t.sensitive && t.n.detail ? ' ' + t.n.detail : '', ' (' + t.hops + ')'))),
        targets.length > 200 ? el('p', {}, '… and ' + (targets.length - 200) + ' more') : null,
        el('p', { class: 'hint' }, 'Confirm with: ', el('code', {}, "netseg blast-radius --from '" + origin.id + "'")),
        el('button', { type: 'button', on: { click: () => select(selected) } }, 'clear'),
      ].filter((child) => child !== null));
      check.blast = { origin: origin.id, targets: targets.length, sensitive };
    }

    const zoomBy = (factor) => { zoom = Math.min(3, Math.max(0.2, zoom * factor)); draw(); };
    const toolbar = el('div', { class: 'toolbar' },
      el('button', { type: 'button', on: { click: () => { g.namespaces.forEach((_, i) => expanded.add(i)); draw(); } } }, 'expand all'),
      el('button', { type: 'button', on: { click: () => { expanded.clear(); draw(); } } }, 'fold all'),
      el('button', { type: 'button', on: { click: () => zoomBy(1.25) } }, 'zoom in'),
      el('button', { type: 'button', on: { click: () => zoomBy(0.8) } }, 'zoom out'),
      legend());
    const section = el('section', { id: 'graph-section' },
      el('h2', {}, 'Who can reach whom'),
      toolbar, note, el('div', { class: 'graph-layout' }, canvas, panel));

    function selectById(id) {
      const n = nodes.find((x) => x.id === id);
      if (!n) return false;
      if (n.ns >= 0 && !expanded.has(n.ns)) {
        const box = canvas.querySelector('g.namespace[data-namespace="' + CSS.escape(g.namespaces[n.ns]) + '"]');
        if (box) box.dispatchEvent(new MouseEvent('click'));
      }
      const unit = canvas.querySelector('g.unit[data-unit="n' + n.index + '"]');
      if (!unit) return false;
      unit.dispatchEvent(new MouseEvent('click'));
      return true;
    }

    return { section, start: () => { drawPanel(); draw(); }, selectById };
  }

  function legend() {
    const item = (cls, text) => el('span', { class: 'legend-item ' + cls }, text);
    return el('span', { class: 'legend' },
      item('l-workload', 'workload'), item('l-datastore', 'datastore'), item('l-sensitive', 'sensitive address'),
      item('l-external', 'external'), item('l-sensitive-edge', 'into a sensitive target'),
      item('l-added', 'added'), item('l-removed', 'removed'), item('l-broken', 'declared flow denied'),
      item('l-restricted', 'only some requests (L7, mesh)'));
  }

  // ---- assemble, then check ourselves ----------------------------------------------------------------------------

  app.append(header());
  if (data.summary) app.append(summary());
  if (data.findings) {
    const broken = brokenFlows();
    if (broken) app.append(broken);
  }
  const graph = graphSection();
  app.append(graph.section);
  if (data.findings) app.append(findings());
  graph.start();

  let hash = window.location.hash.slice(1);
  try {
    hash = decodeURIComponent(hash);
  } catch (e) {
    // A malformed %-sequence: take the address as written.
  }
  if (hash.startsWith('select=')) graph.selectById(hash.slice('select='.length));
  if (hash.startsWith('netseg-selfcheck')) {
    // The browser test: drive the real controls, then report what the page shows.
    const origin = hash.slice('netseg-selfcheck='.length);
    if (origin) check.selected = graph.selectById(origin);
    const severity = document.getElementById('filter-severity');
    if (severity) {
      severity.value = 'high';
      severity.dispatchEvent(new Event('change'));
      check.highRows = document.querySelectorAll('#findings tr.finding').length;
      severity.value = '';
      severity.dispatchEvent(new Event('change'));
    }
  }
  check.findingRows = document.querySelectorAll('#findings tr.finding').length;
  check.findingsInData = data.findings ? data.findings.length : 0;
  check.brokenFlowRows = document.querySelectorAll('#broken-flows li.broken-flow').length;
  check.brokenEdges = document.querySelectorAll('svg .edge.broken').length;
  check.restrictedEdges = document.querySelectorAll('svg .edge.restricted').length;
  check.nodesInData = data.graph.nodes.length;
  check.resources = performance.getEntriesByType('resource').length;
  check.done = true;
  app.append(el('pre', { id: 'netseg-selfcheck', hidden: 'hidden' }, JSON.stringify(check)));
})();
