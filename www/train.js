// The fine-tune panel: collect labelled images, start / pause / stop a run, and draw it live
// (loss, accuracy and learning-rate charts, the probe image's SE weights per step, and the
// validation results after every epoch). The training itself runs in the worker.
import { css, diverging, viridis } from './colormap.js';
import { snapshot } from './camera.js';
import { loadCharts, makeChart } from './charts.js';

const $ = (id) => document.getElementById(id);
const CIFAR10 = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];

export function setupTraining({ app, showAlert, reportError, updateStatus }) {
  // The chart library loads when the panel is opened (a failure shows in the charts' place).
  $('tab-train').addEventListener('click', () => loadCharts().catch(() => {}), { once: true });
  const customClasses = []; // [{ name, files: File[] }]
  let cifarFiles = []; // [{ file, label }]
  let cifarBinaries = []; // File[]
  let run = null;
  let paused = false;

  // ---------- data ----------
  const mode = () => ($('mode-cifar').checked ? 'cifar' : 'custom');

  /** Why Start cannot run yet (shown beside it), or null when the data is complete. */
  function missingData() {
    if (mode() === 'custom') {
      const names = customClasses.map((c) => c.name.trim());
      if (names.some((n) => !n)) return 'Give every class a name.';
      if (new Set(names).size !== names.length) return 'Give the classes different names.';
      const empty = customClasses.filter((c) => c.files.length === 0).map((c) => c.name);
      return empty.length ? `Add photos to ${empty.join(', ')} to start.` : null;
    }
    return cifarFiles.length || cifarBinaries.length ? null : 'Choose a CIFAR-10 folder or binary files to start.';
  }

  function summarise() {
    const missing = missingData();
    $('start-reason').textContent = missing ?? '';
    if (!run) $('start-train').disabled = Boolean(missing);
    if (mode() === 'custom') {
      const counts = customClasses.map((c) => `${c.name || '(unnamed)'}: ${c.files.length}`);
      $('data-summary').textContent = `${customClasses.length} classes — ${counts.join(', ')}`;
    } else {
      const perClass = CIFAR10.map((name, i) => cifarFiles.filter((f) => f.label === i).length);
      const images = perClass.reduce((a, b) => a + b, 0);
      const binaries = cifarBinaries.length ? ` + ${cifarBinaries.length} CIFAR-10 binary file(s)` : '';
      $('data-summary').textContent = images || binaries
        ? `${images} images from folders${binaries}. Per class: ${CIFAR10.map((n, i) => `${n} ${perClass[i]}`).join(', ')}`
        : 'No images yet.';
    }
  }

  function addClassRow(name) {
    if (customClasses.length >= 10) {
      showAlert('At most 10 classes.');
      return;
    }
    const entry = { name, files: [] };
    customClasses.push(entry);
    const index = customClasses.length;
    const item = document.createElement('li');
    const nameInput = document.createElement('input');
    nameInput.type = 'text';
    nameInput.value = name;
    nameInput.setAttribute('aria-label', `Name of class ${index}`);
    nameInput.addEventListener('input', () => { entry.name = nameInput.value.trim(); summarise(); });
    const pick = document.createElement('label');
    pick.className = 'button';
    pick.textContent = 'Add photos…';
    const files = document.createElement('input');
    files.type = 'file';
    files.accept = 'image/*';
    files.multiple = true;
    files.className = 'visually-hidden';
    files.setAttribute('aria-label', `Photos for class ${index}`);
    pick.append(files);
    const thumbs = document.createElement('div');
    thumbs.className = 'thumbs';
    const count = document.createElement('span');
    count.className = 'muted';
    const refresh = () => {
      count.textContent = `${entry.files.length} image(s)`;
      summarise();
    };
    const addFiles = (list) => {
      for (const file of list) {
        if (file.size === 0) { showAlert(`${file.name} is empty (0 bytes) and was not added.`); continue; }
        entry.files.push(file);
        if (thumbs.children.length < 24) {
          const img = document.createElement('img');
          img.src = URL.createObjectURL(file);
          img.alt = file.name;
          thumbs.append(img);
        }
      }
      refresh();
    };
    files.addEventListener('change', () => { addFiles([...files.files]); files.value = ''; });
    item.append(nameInput, pick);
    if (navigator.mediaDevices?.getUserMedia) {
      const capture = document.createElement('button');
      capture.type = 'button';
      capture.textContent = 'Snap from camera';
      capture.addEventListener('click', async () => {
        try {
          const stream = await navigator.mediaDevices.getUserMedia({ video: true });
          const video = document.createElement('video');
          video.srcObject = stream;
          video.muted = true;
          await video.play();
          const file = await snapshot(video);
          stream.getTracks().forEach((t) => t.stop());
          addFiles([file]);
        } catch (error) {
          showAlert(`The camera is not available: ${error.message}`);
        }
      });
      item.append(capture);
    }
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.textContent = 'Remove';
    remove.setAttribute('aria-label', `Remove class ${index}`);
    remove.addEventListener('click', () => {
      if (customClasses.length <= 2) { showAlert('Keep at least two classes.'); return; }
      customClasses.splice(customClasses.indexOf(entry), 1);
      item.remove();
      summarise();
    });
    item.append(remove, count, thumbs);
    item.dataset.testid = 'class-row';
    $('class-list').append(item);
    refresh();
  }

  addClassRow('class A');
  addClassRow('class B');
  $('add-class').addEventListener('click', () => addClassRow(`class ${String.fromCharCode(64 + customClasses.length + 1)}`));
  for (const radio of [$('mode-custom'), $('mode-cifar')]) {
    radio.addEventListener('change', () => {
      $('custom-data').hidden = mode() !== 'custom';
      $('cifar-data').hidden = mode() !== 'cifar';
      summarise();
    });
  }
  $('cifar-folder').addEventListener('change', (event) => {
    const limit = Number($('per-class-limit').value) || 200;
    const perClass = new Array(10).fill(0);
    let unknown = 0;
    cifarFiles = [];
    for (const file of event.target.files) {
      const parts = (file.webkitRelativePath || file.name).split('/');
      const label = CIFAR10.indexOf(parts[parts.length - 2]);
      if (label < 0) { unknown++; continue; }
      if (perClass[label] >= limit) continue;
      perClass[label]++;
      cifarFiles.push({ file, label });
    }
    if (unknown) showAlert(`${unknown} file(s) are not in a folder named after a CIFAR-10 class and were skipped.`, { kind: 'info' });
    summarise();
  });
  $('cifar-binary').addEventListener('change', (event) => { cifarBinaries = [...event.target.files]; summarise(); });

  /** Sends the chosen images to the worker; returns the class names (null = keep the model's). */
  async function loadExamples() {
    await app.model.clearExamples();
    const failures = [];
    let probe = null;
    const add = async (file, label) => {
      try {
        await app.model.addExample(file, label);
        probe ??= file;
      } catch (error) {
        failures.push(`${file.name}: ${error.message}`);
      }
    };
    let classes = null;
    if (mode() === 'custom') {
      const names = customClasses.map((c) => c.name.trim());
      if (names.some((n) => !n)) throw new Error('every class needs a name');
      if (new Set(names).size !== names.length) throw new Error('class names must be different');
      const empty = customClasses.filter((c) => c.files.length === 0).map((c) => c.name);
      if (empty.length) throw new Error(`add at least one photo to: ${empty.join(', ')}`);
      classes = names;
      let done = 0;
      const total = customClasses.reduce((n, c) => n + c.files.length, 0);
      for (const [label, entry] of customClasses.entries()) {
        for (const file of entry.files) {
          await add(file, label);
          $('train-status').textContent = `Preparing images ${++done}/${total}…`;
        }
      }
    } else {
      if (app.model.info.classes.join() !== CIFAR10.join()) {
        throw new Error('the loaded model does not predict the CIFAR-10 classes; load the shipped model first');
      }
      let done = 0;
      for (const { file, label } of cifarFiles) {
        await add(file, label);
        if (++done % 25 === 0) $('train-status').textContent = `Preparing images ${done}/${cifarFiles.length}…`;
      }
      for (const file of cifarBinaries) {
        try {
          await app.model.addCifarBatch(file);
        } catch (error) {
          failures.push(`${file.name}: ${error.message}`);
        }
      }
    }
    if (failures.length) {
      showAlert(`Skipped ${failures.length} file(s): ${failures.slice(0, 3).join('; ')}${failures.length > 3 ? '; …' : ''}`);
    }
    return { classes, probe };
  }

  // ---------- live views ----------
  let charts = null;
  let history = null;
  let started = 0;

  async function makeCharts() {
    const [loss, acc, lr] = await Promise.all([
      makeChart($('chart-loss'), [['loss', '#3b528b']]),
      makeChart($('chart-acc'), [['running accuracy', '#21918c'], ['validation accuracy', '#fde725']]),
      makeChart($('chart-lr'), [['learning rate', '#440154']], { log: true }),
    ]);
    return { loss, acc, lr };
  }

  function setupViews(plan, probeBitmap, newCharts) {
    charts = newCharts;
    if (plan.startValidation) {
      // Step 0: the validation accuracy before training, the figure the run must beat.
      charts.acc.data[0].push(0);
      charts.acc.data[1].push(null);
      charts.acc.data[2].push(plan.startValidation.accuracy);
      charts.acc.plot.setData(charts.acc.data);
    }
    const container = $('se-history');
    container.replaceChildren();
    history = [32, 64, 128].map((channels, block) => {
      const label = document.createElement('span');
      label.textContent = `Block ${block + 1} (${channels} channels × ${plan.totalSteps} steps)`;
      const canvas = document.createElement('canvas');
      canvas.width = plan.totalSteps;
      canvas.height = channels;
      canvas.id = `se-history-${block + 1}`;
      canvas.setAttribute('aria-label', `SE weights of the probe image in block ${block + 1}, per step`);
      const moved = document.createElement('span');
      moved.className = 'moved';
      moved.id = `se-moved-${block + 1}`;
      container.append(label, canvas, moved);
      return { canvas, moved, columns: [], lo: Infinity, hi: -Infinity, span: 0 };
    });
    const probeCanvas = $('probe-image');
    const context = probeCanvas.getContext('2d');
    context.clearRect(0, 0, probeCanvas.width, probeCanvas.height);
    if (probeBitmap) context.drawImage(probeBitmap, 0, 0, probeCanvas.width, probeCanvas.height);
    $('train-progress').max = plan.totalSteps;
    $('train-progress').value = 0;
    $('epoch-results').hidden = true;
  }

  const changeView = () => $('se-view-change').checked;

  /**
   * Appends a step's SE weights. "Absolute": viridis over the range seen so far. "Change since
   * the start": each weight minus its first value, purple (down) – white – orange (up), scaled
   * to the largest change so far, so the drift that training causes is what shows.
   */
  function drawHistory(view, weights) {
    view.columns.push(weights);
    const first = view.columns[0];
    const lo = Math.min(view.lo, ...weights);
    const hi = Math.max(view.hi, ...weights);
    const span = Math.max(view.span, ...weights.map((w, c) => Math.abs(w - first[c])));
    const redraw = lo < view.lo || hi > view.hi || span > view.span;
    Object.assign(view, { lo, hi, span });
    const context = view.canvas.getContext('2d');
    const colour = changeView()
      ? (w, c) => diverging((w - first[c]) / (span || 1))
      : (w) => viridis((w - lo) / (hi - lo || 1));
    const paint = (column, x) => {
      const pixels = context.createImageData(1, column.length);
      column.forEach((w, channel) => pixels.data.set([...colour(w, channel), 255], channel * 4));
      context.putImageData(pixels, x, 0);
    };
    if (redraw || view.columns.length === 1) view.columns.forEach(paint);
    else paint(weights, view.columns.length - 1);
    view.canvas.title = changeView()
      ? `change since the start: −${span.toPrecision(2)} (purple) to +${span.toPrecision(2)} (orange)`
      : `weights ${lo.toFixed(3)} (dark) to ${hi.toFixed(3)} (yellow)`;
    markMoved(view);
  }

  /** Names the three channels whose weight moved most since the start. */
  function markMoved(view) {
    const first = view.columns[0];
    const last = view.columns[view.columns.length - 1];
    const moves = last.map((w, channel) => ({ channel, delta: w - first[channel] }))
      .sort((a, b) => Math.abs(b.delta) - Math.abs(a.delta)).slice(0, 3)
      .filter((m) => Math.abs(m.delta) > 1e-4);
    view.moved.textContent = moves.length
      ? `moved most: ${moves.map((m) => `#${m.channel} ${m.delta > 0 ? '+' : '−'}${Math.abs(m.delta).toPrecision(2)}`).join(', ')}`
      : 'no channel has moved yet';
  }

  function redrawHistory() {
    for (const view of history ?? []) {
      const columns = view.columns;
      Object.assign(view, { columns: [], lo: Infinity, hi: -Infinity, span: 0 });
      columns.forEach((weights) => drawHistory(view, weights));
    }
  }
  for (const radio of [$('se-view-absolute'), $('se-view-change')]) radio.addEventListener('change', redrawHistory);

  function onStep(report) {
    const step = report.globalStep;
    charts.loss.data[0].push(step);
    charts.loss.data[1].push(report.metrics.loss);
    charts.acc.data[0].push(step);
    charts.acc.data[1].push(report.runningAccuracy);
    charts.acc.data[2].push(report.epochEnd?.validation ? report.epochEnd.validation.accuracy : null);
    charts.lr.data[0].push(step);
    charts.lr.data[1].push(report.metrics.lr);
    for (const chart of Object.values(charts)) chart.plot.setData(chart.data);
    report.probeSeWeights?.forEach((weights, block) => drawHistory(history[block], weights));
    $('train-progress').value = step;
    const seconds = (performance.now() - started) / 1000;
    const eta = (seconds / step) * (report.totalSteps - step);
    $('train-status').textContent =
      `Epoch ${report.epoch + 1}/${report.epochs}, step ${step}/${report.totalSteps} — loss ${report.metrics.loss.toFixed(4)}, ` +
      `accuracy ${(report.runningAccuracy * 100).toFixed(1)} %, lr ${report.metrics.lr.toExponential(2)} — ` +
      `${(step / seconds).toFixed(2)} steps/s, about ${formatSeconds(eta)} left`;
  }

  /** Where the run starts: how each class began, and the validation accuracy before any step. */
  function showPlan(plan) {
    const how = { kept: 'kept from the model', imprinted: 'imprinted from its photos', random: 'random start' };
    const starts = plan.headReinitialised
      ? plan.classes.map((name, i) => `${name}: ${how[plan.classStarts[i]]}`).join(', ')
      : 'the model\'s own classes';
    const before = plan.startValidation
      ? `${(plan.startValidation.accuracy * 100).toFixed(1)} % on ${plan.startValidation.count} validation images`
      : 'not measured (no validation images)';
    $('start-summary').textContent = `Before training: ${before}. Last layer: ${starts}. ` +
      'The run keeps whichever epoch (the start included) scores best on validation.';
    $('validation-warning').textContent = plan.validationWarning ? `Warning: ${plan.validationWarning}.` : '';
    $('validation-warning').hidden = !plan.validationWarning;
  }

  function onEpoch(end) {
    if (!end.validation) return;
    const { validation } = end;
    const classes = currentClasses;
    $('epoch-results').hidden = false;
    $('epoch-number').textContent = String(end.epoch);
    $('val-accuracy').textContent = `${(validation.accuracy * 100).toFixed(1)} % (${validation.count} images)`;
    const perClass = $('per-class');
    perClass.replaceChildren(row(['class', 'accuracy'], 'th'),
      ...classes.map((name, i) => row([name, Number.isFinite(validation.perClassAccuracy[i]) ? `${(validation.perClassAccuracy[i] * 100).toFixed(0)} %` : '–'])));
    perClass.createCaption().textContent = 'Validation accuracy per class';
    const confusion = $('confusion');
    const max = Math.max(1, ...validation.confusion.flat());
    confusion.replaceChildren(row(['true ↓ / predicted →', ...classes.map((c) => c.slice(0, 5))], 'th'));
    validation.confusion.forEach((counts, i) => {
      const tr = row([classes[i]], 'th');
      for (const n of counts) {
        const td = document.createElement('td');
        td.textContent = String(n);
        td.style.background = css(viridis(n / max));
        td.style.color = n / max > 0.6 ? '#000' : '#fff';
        tr.append(td);
      }
      confusion.append(tr);
    });
    confusion.createCaption().textContent = 'Confusion matrix (validation)';
  }

  // ---------- controls ----------
  let currentClasses = CIFAR10;
  const buttons = (running) => {
    $('start-train').disabled = running || Boolean(missingData());
    $('pause-train').disabled = !running;
    $('finish-train').disabled = !running;
    $('cancel-train').disabled = !running;
    $('load-weights').disabled = running;
    $('restore-shipped').disabled = running;
  };

  $('start-train').addEventListener('click', async () => {
    buttons(true);
    paused = false;
    $('pause-train').textContent = 'Pause';
    try {
      const { classes, probe } = await loadExamples();
      currentClasses = classes ?? app.model.info.classes;
      const probeBitmap = probe ? await createImageBitmap(probe).catch(() => null) : null;
      const options = {
        classes,
        epochs: Number($('epochs').value),
        batchSize: Number($('batch-size').value),
        learningRate: Number($('lr').value),
        optimizer: $('optimizer').value,
        schedule: $('schedule').value,
        freeze: $('freeze').value,
        augment: $('augment').checked,
        validationSplit: Number($('val-split').value),
        probe: probeBitmap,
      };
      started = performance.now();
      $('train-status').textContent = 'Starting…';
      const newCharts = await makeCharts();
      run = app.model.fineTune({
        ...options,
        onPlan: (plan) => {
          setupViews(plan, probeBitmap, newCharts);
          showPlan(plan);
          $('train-status').textContent = `Training on ${plan.trainImages} images (${plan.validationImages} for validation), ` +
            `${plan.totalSteps} steps${plan.usesFeatureCache ? ' — frozen features computed once' : ''}…`;
        },
        onStep,
        onEpoch,
        onPause: () => { $('train-status').textContent += ' — paused'; },
      });
      const result = await run.done;
      updateStatus();
      const message = {
        done: 'Training finished: Classify now uses the fine-tuned model.',
        'finished early': 'Training stopped early: Classify uses what it learned so far.',
        cancelled: 'Training cancelled: the model from before is back.',
      }[result.status];
      const kept = /kept the weights after epoch \d+ of \d+[^)]*\)/.exec(result.info?.description ?? '');
      $('train-status').textContent = kept ? `${message} It ${kept[0]}.` : message;
      showAlert(message, { kind: 'info' });
    } catch (error) {
      reportError('Fine-tuning stopped', error);
      $('train-status').textContent = `Stopped: ${error.message}`;
      try { updateStatus(); } catch { /* runtime gone; reportError offered a restart */ }
    } finally {
      run = null;
      buttons(false);
    }
  });
  $('pause-train').addEventListener('click', () => {
    if (!run) return;
    paused = !paused;
    $('pause-train').textContent = paused ? 'Resume' : 'Pause';
    (paused ? run.pause() : run.resume()).catch((e) => reportError('Pause', e));
  });
  $('finish-train').addEventListener('click', () => run?.finish().catch((e) => reportError('Stop', e)));
  $('cancel-train').addEventListener('click', () => run?.cancel().catch((e) => reportError('Cancel', e)));

  // ---------- weights ----------
  $('download-weights').addEventListener('click', async () => {
    try {
      const bytes = await app.model.exportWeights();
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([bytes], { type: 'application/octet-stream' }));
      link.download = `${app.model.info.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.bpk`;
      link.click();
      setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
    } catch (error) {
      reportError('Could not export the weights', error);
    }
  });
  $('load-weights').addEventListener('change', async (event) => {
    const file = event.target.files[0];
    event.target.value = '';
    if (!file) return;
    try {
      await app.model.loadWeights(file);
      updateStatus();
      showAlert(`Loaded ${file.name}: ${app.model.info.name} (${app.model.info.classes.length} classes).`, { kind: 'info' });
    } catch (error) {
      reportError(`${file.name} was not loaded (the current model is unchanged)`, error);
    }
  });
  $('restore-shipped').addEventListener('click', async () => {
    try {
      await app.model.loadWeights(app.shippedBytes.slice());
      updateStatus();
      showAlert('The shipped CIFAR-10 model is back.', { kind: 'info' });
    } catch (error) {
      reportError('Could not restore the shipped model', error);
    }
  });
  summarise();
}

function row(cells, tag = 'td') {
  const tr = document.createElement('tr');
  for (const cell of cells) {
    const el = document.createElement(tag);
    el.textContent = cell;
    tr.append(el);
  }
  return tr;
}

function formatSeconds(seconds) {
  if (!Number.isFinite(seconds)) return '–';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  return `${Math.round(seconds / 60)} min`;
}
