// The header's status (which backend runs the model, which weights are loaded, how accurate they
// are) and everything else that follows the loaded model; and what a failed model call shows.
import { $ } from './page-dom.js';
import { page } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { fillClassSelect } from './page-explain.js';
import { renderProfiles } from './page-se-profiles.js';

/** What 'auto' measured on both backends (`backend.probe`), in a sentence for the tooltip. */
function describeProbe({ training, cpuMs, webgpuMs }) {
  const rate = (value) => `${value < 10 ? value.toFixed(1) : Math.round(value)} images/s`;
  const webgpu = training.webgpuStopped ? `under ${rate(training.webgpu)}, stopped once slower` : rate(training.webgpu);
  return `Measured here — fine-tuning: this CPU ${rate(training.cpu)}, WebGPU ${webgpu}; `
    + `one image: CPU ${cpuMs.toFixed(1)} ms, WebGPU ${webgpuMs.toFixed(1)} ms.`;
}

/** The backend badge's text, CSS class and tooltip for `backend` (SeCnn's model.backend). */
function describeBackend(backend) {
  const measured = backend.probe ? ` ${describeProbe(backend.probe)}` : '';
  if (backend.backend === 'webgpu') {
    const onCpu = backend.classifier === 'cpu';
    return {
      text: `WebGPU · ${backend.adapter}${onCpu ? ' · classifying on the CPU' : ''}`,
      kind: 'webgpu',
      title: `${onCpu ? 'Fine-tuning runs on the GPU through WebGPU, classification on the CPU (faster for one image here).'
        : 'Running on the GPU through WebGPU.'}${measured}`,
    };
  }
  // The threaded CPU module runs where the page is cross-origin isolated.
  const cpu = backend.threads > 1 ? `CPU ×${backend.threads}` : 'CPU';
  const onThreads = backend.threads > 1 ? ` on ${backend.threads} threads` : ' on one thread';
  if (backend.onDemand) {
    return { text: `${cpu} · WebGPU on demand`, kind: 'cpu',
      title: `Running on the CPU${onThreads}, as fast as the GPU for one image; WebGPU loads when you fine-tune` };
  }
  if (backend.probe) {
    const onGpu = backend.classifier === 'webgpu';
    return { text: `${cpu} · faster than WebGPU${onGpu ? ' · classifying on WebGPU' : ''}`, kind: 'cpu',
      title: `Fine-tuning runs on the CPU${onThreads}, faster than this browser's WebGPU${onGpu ? '; classification on WebGPU, faster for one image' : ''}.${measured}` };
  }
  if (backend.loading) {
    return { text: `${cpu} · loading WebGPU…`, kind: 'cpu',
      title: `Running on the CPU${onThreads} now; the WebGPU runtime is loading, then both are timed and the faster fine-tunes` };
  }
  return { text: `${cpu} (no WebGPU)`, kind: 'cpu',
    title: `${backend.fallbackReason ? `WebGPU unavailable: ${backend.fallbackReason}` : 'CPU backend chosen'}; running${onThreads}` };
}

/** The model badge: name and accuracy on one line (a fixed slot); the whole story in its tooltip. */
function showModel(info) {
  const percent = (value) => `${(value * 100).toFixed(2)} %`; // as `secnn eval` prints it
  const accuracy = info.accuracy != null ? ` · ${percent(info.accuracy)}` : '';
  const withTta = info.accuracyTta != null ? `, ${percent(info.accuracyTta)} with flip averaging` : '';
  $('model-status').textContent = `${info.name}${accuracy}`;
  $('model-status').title = info.accuracy != null
    ? `${info.name}: ${percent(info.accuracy)} accuracy${withTta}${info.accuracyOn ? `, measured on ${info.accuracyOn}` : ''}`
    : info.description;
  $('model-description').textContent = info.description;
}

/** Brings everything that depends on the backend or the weights up to date. */
export function updateStatus() {
  const { backend, info } = page.model;
  const badge = $('backend-badge');
  const { text, kind, title } = describeBackend(backend);
  badge.textContent = text;
  badge.className = `badge ${kind}`;
  badge.title = title;
  showModel(info);
  const classifiesOn = backend.classifier ?? backend.backend;
  $('inference-backend').textContent = backend.classifier ? `${classifiesOn === 'cpu' ? 'the CPU' : 'WebGPU'} (faster for one image here)`
    : classifiesOn === 'webgpu' ? `WebGPU (${backend.adapter})` : 'the CPU';
  fillClassSelect(info.classes);
  renderProfiles(info);
  // Another member of the family sees another size and has another last block.
  const { inputSize, blockWidths } = page.model.facts;
  $('model-input-size').textContent = `${inputSize}×${inputSize}`;
  $('cam-block').textContent = String(blockWidths.length);
  describeArchitecture(page.model.facts, info.classes);
}

const NUMBER_WORDS = ['no', 'one', 'two', 'three', 'four', 'five', 'six'];

/** "About this model" for the loaded member (the HTML holds the shipped model's, word for word). */
function describeArchitecture({ inputSize, blockWidths, parameters }, classes) {
  const listed = classes.length <= 10 ? classes.join(', ') : `${classes.slice(0, 10).join(', ')}, …`;
  $('about-input').textContent = `${inputSize}×${inputSize} pictures into ${classes.length} classes (${listed})`;
  const widths = blockWidths.length === 1 ? `${blockWidths[0]}`
    : `${blockWidths.slice(0, -1).join(', ')} and ${blockWidths.at(-1)}`;
  const blocks = `${NUMBER_WORDS[blockWidths.length] ?? blockWidths.length} block${blockWidths.length === 1 ? '' : 's'}`;
  $('about-blocks').textContent = `${blocks} (${widths} channels)`;
  $('about-parameters').textContent = `${(parameters / 1e6).toFixed(2)} million`;
  $('about-side').textContent = String(inputSize);
}

/** Restarts on the CPU with the last kept model (a fine-tune's last kept epoch), else the shipped one. */
async function restartOnCpu() {
  try {
    // The keeper loads with the fine-tune panel, after start-up; a restart is rare.
    const kept = (await import('./project-keeper.js')).keptWeights();
    await page.model.recreate({ backend: 'cpu', weights: (kept ?? page.shippedBytes).slice() });
    updateStatus();
    showAlert(`Restarted on the CPU with ${kept ? 'the last kept fine-tuned model' : 'the shipped weights'}.`, { kind: 'info' });
  } catch (error) {
    showAlert(`Could not restart: ${error.message}`);
  }
}

/** Shows an error from a model call; a lost runtime gets a restart button. */
export function reportError(context, error) {
  console.warn(context, error);
  // A crashed runtime, or a GPU that failed or was lost: offer to carry on on the CPU.
  if (error.code === 'runtime-lost' || error.code === 'device-lost') {
    showAlert(`${context}: the model runtime stopped (${error.message}).`, {
      action: { label: 'Restart on the CPU', run: restartOnCpu },
    });
  } else {
    showAlert(`${context}: ${error.message}`);
  }
}
