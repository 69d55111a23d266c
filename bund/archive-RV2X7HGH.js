import {
  Archive,
  ArchiveLayerSource,
  DEFAULT_UNPACK_LIMIT,
  compressionForName,
  detectFormat,
  indexTar,
  openArchiveSource,
  pendingTempDirs,
  recogniseLayout,
  unpackLimit,
  writeArchiveLike
} from "./chunk-IJRLALQZ.js";
import {
  ArchiveError
} from "./chunk-XLWXTOJZ.js";
export {
  Archive,
  ArchiveError,
  ArchiveLayerSource,
  DEFAULT_UNPACK_LIMIT,
  compressionForName,
  detectFormat,
  indexTar,
  openArchiveSource,
  pendingTempDirs,
  recogniseLayout,
  unpackLimit,
  writeArchiveLike
};
