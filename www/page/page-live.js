// Live camera mode: the camera feed classified frame after frame, with the top classes, the SE
// bars and Grad-CAM over the video moving as it goes, and the frame rate shown. One frame is with
// the model at a time, and the newest frame goes next (frames that arrive meanwhile are skipped);
// it goes as soon as the last answer is back, before that answer is drawn, so the model's worker
// and the page's drawing overlap. It runs on whichever backend the model classifies on (SeCnn
// picks the fastest for one image).
import { $ } from './page-dom.js';
import { page, tuning } from './page-state.js';
import { showAlert } from './page-alerts.js';
import { snapshot } from './camera.js';
import { heatLayer, topClassItem } from './page-explain.js';
import { renderSeBlocks } from './page-se-blocks.js';
import { reportError } from './page-status.js';

/** Calls `callback` at the video's next frame (or the next animation frame where unsupported). */
function nextFrame(video, callback) {
  if (typeof video.requestVideoFrameCallback === 'function') video.requestVideoFrameCallback(callback);
  else requestAnimationFrame(callback);
}

/** Grad-CAM (`heat`, its layer) over the centre square of the video: the part of the frame the model sees. */
function drawOverlay(video, explained, heat) {
  const overlay = $('live-overlay');
  overlay.parentElement.classList.toggle('portrait', video.videoHeight > video.videoWidth);
  const context = overlay.getContext('2d');
  context.clearRect(0, 0, overlay.width, overlay.height);
  context.drawImage(heat, 0, 0, overlay.width, overlay.height);
  overlay.setAttribute('aria-label', `Grad-CAM for ${explained.gradcam.label} over the camera`);
}

/** The Grad-CAM card: the frame's centre square under the heat layer `heat`. */
function drawGradCamCard(video, explained, heat) {
  const canvas = $('gradcam-canvas');
  const context = canvas.getContext('2d');
  const short = Math.min(video.videoWidth, video.videoHeight);
  const [sx, sy] = [(video.videoWidth - short) / 2, (video.videoHeight - short) / 2];
  context.drawImage(video, sx, sy, short, short, 0, 0, canvas.width, canvas.height);
  context.drawImage(heat, 0, 0, canvas.width, canvas.height);
  $('cam-class').value = String(explained.gradcam.class);
}

function showFrame(video, explained) {
  $('answer-empty').hidden = true;
  $('answer-body').hidden = false;
  $('answer-body').classList.add('live');
  $('results').hidden = false;
  $('top5').replaceChildren(...explained.top.map(topClassItem));
  $('inference-time').textContent = `${explained.milliseconds.toFixed(1)} ms a frame (with attention and Grad-CAM)`;
  renderSeBlocks(explained, page.model.info.profiles, video);
  const heat = heatLayer(explained.gradcam); // drawn twice: over the video and on the card
  drawOverlay(video, explained, heat);
  drawGradCamCard(video, explained, heat);
}

/**
 * Teachable Machine's flow, with attention: the frame on show becomes an example of one of the
 * Fine-tune panel's own classes (the list follows the panel's names).
 */
function setupFrameToClass(video) {
  const select = $('frame-class');
  const fill = () => {
    const chosen = select.value;
    select.replaceChildren(...tuning.customClasses.map((entry, i) => new Option(entry.name, String(i))));
    if (chosen && Number(chosen) < tuning.customClasses.length) select.value = chosen;
  };
  select.addEventListener('focus', fill);
  select.addEventListener('pointerdown', fill);
  // The panel's classes may arrive after the camera opens (its modules load after start-up).
  $('camera-button').addEventListener('click', fill);
  video.addEventListener('playing', fill);
  $('live-button').addEventListener('click', fill);
  $('frame-to-class').addEventListener('click', async () => {
    fill();
    const entry = tuning.customClasses[Number(select.value)];
    if (!entry?.addFiles || !video.videoWidth) {
      showAlert('Open Fine-tune and name your classes first; then frames can be added to them here.');
      return;
    }
    await entry.addFiles([await snapshot(video)]);
    showAlert(`Added the frame to "${entry.name}" (${entry.photos.length} image(s)); fine-tune in the Fine-tune tab.`, { kind: 'info' });
  });
}

/** The live mode of the camera preview `video`: `{ start, stop, running }`; the button toggles it. */
export function setupLive(video) {
  const button = $('live-button');
  const rate = $('live-rate');
  let running = false;
  let generation = 0; // each start's loop stops when another start or a stop comes
  let frames = 0;
  let span = { start: 0, frames: 0 }; // the frames counted in the rate's current second
  let presented = 0; // the camera's frames so far
  let onPresented = null; // resolves the loop's wait for a new frame
  const show = () => {
    button.textContent = running ? 'Pause live' : 'Classify live';
    button.setAttribute('aria-pressed', String(running));
    $('live-overlay').hidden = !running;
  };
  const countFrame = () => {
    frames += 1;
    rate.dataset.frames = String(frames);
    const now = performance.now();
    if (now - span.start >= 1000) {
      rate.textContent = `${((1000 * (frames - span.frames)) / (now - span.start)).toFixed(1)} frames/s`;
      span = { start: now, frames };
    }
  };
  const watch = (now, metadata) => {
    presented = metadata?.presentedFrames ?? presented + 1;
    onPresented?.();
    onPresented = null;
    if (running) nextFrame(video, watch);
  };
  const frameAfter = (taken) => (presented > taken && video.videoWidth ? Promise.resolve()
    : new Promise((resolve) => { onPresented = resolve; }));
  const loop = async (run) => {
    let taken = -1; // the frame sent last
    let inFlight = null;
    const send = () => {
      taken = presented;
      return page.model.explain(video, { topK: 5, channels: 4 });
    };
    try {
      while (run === generation) {
        if (!inFlight) {
          await frameAfter(taken);
          if (run !== generation) break;
          inFlight = send();
        }
        const explained = await inFlight;
        inFlight = null;
        if (run !== generation) break;
        if (presented > taken && video.videoWidth) inFlight = send(); // the next frame is with the model while this one is drawn
        showFrame(video, explained);
        countFrame();
      }
    } catch (error) {
      if (run === generation) {
        stop();
        reportError('Live classification stopped', error);
      }
    } finally {
      inFlight?.catch(() => {});
    }
  };
  const start = () => {
    if (running) return;
    running = true;
    span = { start: performance.now(), frames };
    show();
    nextFrame(video, watch);
    loop(++generation);
  };
  const stop = () => {
    running = false;
    generation += 1;
    onPresented?.(); // the loop's wait ends, and so does the loop
    onPresented = null;
    show();
  };
  button.addEventListener('click', () => (running ? stop() : start()));
  setupFrameToClass(video);
  show();
  return { start, stop, get running() { return running; } };
}
