// Injected into every module of the browser bundle (esbuild `inject`): the Node globals that
// kurento-client's dependencies (readable-stream, websocket-stream) expect, as browserify provided them.
import process from 'process/browser.js';
import { Buffer } from 'buffer';

export { process, Buffer };
