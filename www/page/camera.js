// The camera: the classify panel's live preview with a Capture button, and the single frames the
// fine-tune panel snaps into a class. Both hand on a PNG File, the same as a chosen photo.
import { $ } from './page-dom.js';
import { showAlert } from './page-alerts.js';

/** Whether this browser can open a camera at all. */
export const hasCamera = () => Boolean(navigator.mediaDevices?.getUserMedia);

/** The current frame of a playing <video> as a PNG File. */
export async function snapshot(video) {
  const canvas = new OffscreenCanvas(video.videoWidth, video.videoHeight);
  canvas.getContext('2d').drawImage(video, 0, 0);
  const blob = await canvas.convertToBlob({ type: 'image/png' });
  return new File([blob], `camera-${Date.now()}.png`, { type: 'image/png' });
}

/** Opens the camera, takes one frame (a PNG File) and closes it again; no preview. */
export async function snapOnce() {
  const stream = await navigator.mediaDevices.getUserMedia({ video: true });
  const video = document.createElement('video');
  video.srcObject = stream;
  video.muted = true;
  await video.play();
  const file = await snapshot(video);
  stream.getTracks().forEach((t) => t.stop());
  return file;
}

/**
 * The classify panel's camera: the button opens a preview (the back camera where there is one),
 * Capture hands `onCapture` a frame; `onClose` hears the preview close (also when the tab is
 * hidden: the camera is not kept on behind the visitor's back). The button is in the page from
 * the start, so nothing moves when it turns out there is no camera and it is hidden.
 */
export function setupCamera(onCapture, { onClose = () => {} } = {}) {
  const button = $('camera-button');
  if (!hasCamera()) {
    button.hidden = true;
    return;
  }
  let stream = null;
  const close = () => {
    onClose();
    stream?.getTracks().forEach((t) => t.stop());
    stream = null;
    $('camera').hidden = true;
  };
  document.addEventListener('visibilitychange', () => { if (document.hidden && stream) close(); });
  button.addEventListener('click', async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: 'environment' } });
      $('camera-video').srcObject = stream;
      $('camera').hidden = false;
    } catch (error) {
      showAlert(`The camera is not available: ${error.message}`);
    }
  });
  $('camera-close').addEventListener('click', close);
  $('capture-button').addEventListener('click', async () => onCapture(await snapshot($('camera-video'))));
}
