// Camera capture shared by the classify and fine-tune panels.

/** The current frame of a playing <video> as a PNG File. */
export async function snapshot(video) {
  const canvas = new OffscreenCanvas(video.videoWidth, video.videoHeight);
  canvas.getContext('2d').drawImage(video, 0, 0);
  const blob = await canvas.convertToBlob({ type: 'image/png' });
  return new File([blob], `camera-${Date.now()}.png`, { type: 'image/png' });
}
