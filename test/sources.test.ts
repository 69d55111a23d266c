/** The shared source suite (test/helpers/sources.ts) over every kind of layer source. */
import { SOURCES, sourceSuite } from './helpers/sources.js';

for (const kind of SOURCES) sourceSuite(kind);
