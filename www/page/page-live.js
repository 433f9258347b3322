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

/**
 * The live loop on the camera preview `video`: while it runs, each new camera frame is explained
 * and drawn, the next frame going to the model while this one is drawn; the rate shows frames
 * per second. Each start's loop ends when a stop or another start comes (its `generation`).
 */
class LiveLoop {
  running = false;
  generation = 0;
  frames = 0;
  span = { start: 0, frames: 0 }; // the frames counted in the rate's current second
  presented = 0; // the camera's frames so far
  onPresented = null; // resolves the loop's wait for a new frame

  constructor(video) {
    this.video = video;
    this.button = $('live-button');
    this.rate = $('live-rate');
  }

  show() {
    this.button.textContent = this.running ? 'Pause live' : 'Classify live';
    this.button.setAttribute('aria-pressed', String(this.running));
    $('live-overlay').hidden = !this.running;
  }

  countFrame() {
    this.frames += 1;
    this.rate.dataset.frames = String(this.frames);
    const now = performance.now();
    if (now - this.span.start >= 1000) {
      this.rate.textContent = `${((1000 * (this.frames - this.span.frames)) / (now - this.span.start)).toFixed(1)} frames/s`;
      this.span = { start: now, frames: this.frames };
    }
  }

  /** Counts the camera's frames as the browser presents them. */
  watch = (now, metadata) => {
    this.presented = metadata?.presentedFrames ?? this.presented + 1;
    this.onPresented?.();
    this.onPresented = null;
    if (this.running) nextFrame(this.video, this.watch);
  };

  /** Resolves once the camera has presented a frame after frame `taken`. */
  frameAfter(taken) {
    if (this.presented > taken && this.video.videoWidth) return Promise.resolve();
    return new Promise((resolve) => { this.onPresented = resolve; });
  }

  async loop(run) {
    let taken = -1; // the frame sent last
    let inFlight = null;
    const send = () => {
      taken = this.presented;
      return page.model.explain(this.video, { topK: 5, channels: 4 });
    };
    try {
      while (run === this.generation) {
        if (!inFlight) {
          await this.frameAfter(taken);
          if (run !== this.generation) break;
          inFlight = send();
        }
        const explained = await inFlight;
        inFlight = null;
        if (run !== this.generation) break;
        if (this.presented > taken && this.video.videoWidth) inFlight = send(); // the next frame is with the model while this one is drawn
        showFrame(this.video, explained);
        this.countFrame();
      }
    } catch (error) {
      if (run === this.generation) {
        this.stop();
        reportError('Live classification stopped', error);
      }
    } finally {
      inFlight?.catch(() => {});
    }
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.span = { start: performance.now(), frames: this.frames };
    this.show();
    nextFrame(this.video, this.watch);
    this.loop(++this.generation);
  }

  stop() {
    this.running = false;
    this.generation += 1;
    this.onPresented?.(); // the loop's wait ends, and so does the loop
    this.onPresented = null;
    this.show();
  }
}

/** The live mode of the camera preview `video`: `{ start, stop, running }`; the button toggles it. */
export function setupLive(video) {
  const live = new LiveLoop(video);
  live.button.addEventListener('click', () => (live.running ? live.stop() : live.start()));
  setupFrameToClass(video);
  live.show();
  return { start: () => live.start(), stop: () => live.stop(), get running() { return live.running; } };
}
