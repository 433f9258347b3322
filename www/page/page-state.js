// What the page's view modules share, in one place: the model, the image on show, and what the
// fine-tune panel has collected. Modules read and write these objects instead of passing them on.

/** The classify side, and the model both panels use. */
export const page = {
  /** The SeCnn (www/secnn/secnn.js) once the runtime has started, else null. */
  model: null,
  /** The shipped weights' bytes, kept to restore or restart with (what the worker gets is a copy). */
  shippedBytes: null,
  /** The image on show: { key, file, url, explained }, or null. */
  current: null,
  /** `{ url, sha256 }` of the model the page's address links to (`?model=`), else null. */
  modelFromLink: null,
  /** Run once after the first prediction (the offline copy and the fine-tune panel start then). */
  afterFirstPrediction: [],
};

/** The fine-tune panel. */
export const tuning = {
  /**
   * "My own classes", in label order: [{ id, name, photos: [{ id, file, thumb }], addFiles(files) }]
   * (`file` is the small copy the page keeps, `thumb` its thumbnail Blob).
   */
  customClasses: [],
  /** Photos being made small before they join a class (Start waits for them). */
  preparing: 0,
  /** "CIFAR-10 with my data", from a folder: [{ file, label }]. */
  cifarFiles: [],
  /** "CIFAR-10 with my data", official CIFAR-10 or CIFAR-100 binary files: File[]. */
  cifarBinaries: [],
  /** The run in progress (what SeCnn.fineTune returns), else null. */
  run: null,
  /** The class names of the latest run, for its validation tables. */
  classes: null,
  /** Why the runtime refuses the custom class names (its one rule), or null; see checkClassNames. */
  namesProblem: null,
};
