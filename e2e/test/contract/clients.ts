/**
 * FitRoom clients as teams write them, unchanged but for the base URL: Node's fetch with
 * FormData, axios with the form-data package (files as streams, chunked), and a Python
 * `requests` script (fitroom_client.py). The contract suite drives each against both targets.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import axios, { type AxiosResponse } from 'axios';
import FormDataStream from 'form-data';

export interface HttpAnswer {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  json: unknown;
}

export interface FormFile {
  field: string;
  /** The file on disk (what axios streams and Python opens). */
  path: string;
  data: Buffer;
  contentType: string;
}

export type Fields = Record<string, string | boolean>;

export interface Download {
  status: number;
  content_type: string | null;
  content_length: string | null;
  sha256: string;
  bytes: number;
}

/** A create polled to its end: every status answer seen, and the image downloaded. */
export interface Flow {
  created: HttpAnswer;
  seen?: Array<Record<string, unknown>>;
  download?: Download;
}

export interface ContractClient {
  name: string;
  create(base: string, key: string, files: FormFile[], fields: Fields): Promise<HttpAnswer>;
  get(base: string, key: string, taskId: string): Promise<HttpAnswer>;
  check(base: string, key: string, kind: 'model' | 'clothes', file: FormFile): Promise<HttpAnswer>;
  flow(base: string, key: string, files: FormFile[], fields: Fields): Promise<Flow>;
}

const POLL_INTERVAL_MS = 100;
const FLOW_TIMEOUT_MS = 45_000;
const REQUEST_TIMEOUT_MS = 30_000;
const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');
const lower = (headers: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));

/** Create, poll every POLL_INTERVAL_MS until COMPLETED or FAILED, then download. */
async function pollToEnd(
  client: Pick<ContractClient, 'create' | 'get'>,
  download: (url: string) => Promise<Download>,
  base: string,
  key: string,
  files: FormFile[],
  fields: Fields,
): Promise<Flow> {
  const created = await client.create(base, key, files, fields);
  if (created.status !== 200) return { created };
  const taskId = (created.json as { task_id: string }).task_id;
  const seen: Array<Record<string, unknown>> = [];
  const deadline = Date.now() + FLOW_TIMEOUT_MS;
  for (;;) {
    const task = (await client.get(base, key, taskId)).json as Record<string, unknown>;
    seen.push(task);
    if (task.status === 'COMPLETED' || task.status === 'FAILED' || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS));
  }
  const last = seen.at(-1)!;
  if (last.status !== 'COMPLETED') return { created, seen };
  return { created, seen, download: await download(last.download_signed_url as string) };
}

async function fetchAnswer(response: Response): Promise<HttpAnswer> {
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = null;
  }
  return { status: response.status, headers: Object.fromEntries(response.headers), json };
}

/** Node's fetch with FormData and Blobs, as a browser-style client. */
export const fetchClient: ContractClient = {
  name: 'fetch + FormData',
  async create(base, key, files, fields) {
    const form = new FormData();
    for (const file of files) {
      form.set(file.field, new Blob([file.data], { type: file.contentType }), `${file.field}.img`);
    }
    for (const [name, value] of Object.entries(fields)) form.set(name, String(value));
    return fetchAnswer(
      await fetch(`${base}/api/tryon/v2/tasks`, {
        method: 'POST',
        headers: { 'X-API-KEY': key },
        body: form,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      }),
    );
  },
  async get(base, key, taskId) {
    return fetchAnswer(
      await fetch(`${base}/api/tryon/v2/tasks/${taskId}`, {
        headers: { 'X-API-KEY': key },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      }),
    );
  },
  async check(base, key, kind, file) {
    const form = new FormData();
    form.set('input_image', new Blob([file.data], { type: file.contentType }), 'image.img');
    return fetchAnswer(
      await fetch(`${base}/api/tryon/input_check/v1/${kind}`, {
        method: 'POST',
        headers: { 'X-API-KEY': key },
        body: form,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      }),
    );
  },
  flow(base, key, files, fields) {
    return pollToEnd(this, fetchDownload, base, key, files, fields);
  },
};

async function fetchDownload(url: string): Promise<Download> {
  const response = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const body = Buffer.from(await response.arrayBuffer());
  return {
    status: response.status,
    content_type: response.headers.get('content-type'),
    content_length: response.headers.get('content-length'),
    sha256: sha256(body),
    bytes: body.length,
  };
}

const axiosAnswer = (response: AxiosResponse): HttpAnswer => ({
  status: response.status,
  headers: lower(response.headers),
  json: response.data as unknown,
});

const axiosOptions = (key: string, form?: FormDataStream) => ({
  headers: { 'X-API-KEY': key, ...form?.getHeaders() },
  timeout: REQUEST_TIMEOUT_MS,
  // Answer every status to the caller, as clients that read FitRoom's error bodies do.
  validateStatus: () => true,
});

/** axios with the form-data package: files streamed from disk, booleans sent as "true". */
export const axiosClient: ContractClient = {
  name: 'axios + form-data',
  async create(base, key, files, fields) {
    const form = new FormDataStream();
    for (const file of files) form.append(file.field, createReadStream(file.path));
    for (const [name, value] of Object.entries(fields)) form.append(name, String(value));
    return axiosAnswer(
      await axios.post(`${base}/api/tryon/v2/tasks`, form, axiosOptions(key, form)),
    );
  },
  async get(base, key, taskId) {
    return axiosAnswer(await axios.get(`${base}/api/tryon/v2/tasks/${taskId}`, axiosOptions(key)));
  },
  async check(base, key, kind, file) {
    const form = new FormDataStream();
    form.append('input_image', createReadStream(file.path));
    return axiosAnswer(
      await axios.post(`${base}/api/tryon/input_check/v1/${kind}`, form, axiosOptions(key, form)),
    );
  },
  flow(base, key, files, fields) {
    return pollToEnd(this, axiosDownload, base, key, files, fields);
  },
};

async function axiosDownload(url: string): Promise<Download> {
  const response = await axios.get<ArrayBuffer>(url, {
    responseType: 'arraybuffer',
    timeout: REQUEST_TIMEOUT_MS,
    validateStatus: () => true,
  });
  const body = Buffer.from(response.data);
  const headers = lower(response.headers);
  return {
    status: response.status,
    content_type: headers['content-type'] ?? null,
    content_length: headers['content-length'] ?? null,
    sha256: sha256(body),
    bytes: body.length,
  };
}

const PYTHON_SCRIPT = fileURLToPath(new URL('./fitroom_client.py', import.meta.url));

/**
 * One Python process for the whole suite (starting one per call costs seconds): commands go in
 * as JSON lines with an id, answers come back the same way, each command on its own thread.
 */
class PythonSession {
  private child: ChildProcessWithoutNullStreams | null = null;
  private nextId = 0;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();

  private start(): ChildProcessWithoutNullStreams {
    const child = spawn('python3', [PYTHON_SCRIPT, '--serve']);
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const reply = JSON.parse(line) as { id: number; result?: unknown; error?: string };
      const waiter = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (reply.error !== undefined) waiter?.reject(new Error(`python client: ${reply.error}`));
      else waiter?.resolve(reply.result);
    });
    child.on('exit', (code) => {
      for (const waiter of this.pending.values()) {
        waiter.reject(new Error(`python client exited (${code}): ${stderr}`));
      }
      this.pending.clear();
      this.child = null;
    });
    return child;
  }

  run<T>(command: Record<string, unknown>): Promise<T> {
    this.child ??= this.start();
    const id = this.nextId++;
    const answer = new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`python client: no answer to ${String(command.op)}`)),
        FLOW_TIMEOUT_MS + 15_000,
      );
      this.pending.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as T);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
    this.child.stdin.write(`${JSON.stringify({ ...command, id })}\n`);
    return answer;
  }

  close(): void {
    this.child?.stdin.end();
  }
}

const session = new PythonSession();
const python = <T>(command: Record<string, unknown>): Promise<T> => session.run<T>(command);
/** Ends the Python client's process (its pending commands are answered first). */
export const closePythonClient = (): void => session.close();

const pythonAnswer = async (command: Record<string, unknown>): Promise<HttpAnswer> => {
  const answer = await python<HttpAnswer>(command);
  return { ...answer, headers: lower(answer.headers) };
};

const filePaths = (files: FormFile[]) => Object.fromEntries(files.map((f) => [f.field, f.path]));

/** The Python `requests` client (fitroom_client.py): hd_mode as a Python bool, i.e. "True". */
export const pythonClient: ContractClient = {
  name: 'python requests',
  create: (base, key, files, fields) =>
    pythonAnswer({ op: 'create', base, key, files: filePaths(files), fields }),
  get: (base, key, taskId) => pythonAnswer({ op: 'get', base, key, task_id: taskId }),
  check: (base, key, kind, file) => pythonAnswer({ op: 'check', base, key, kind, path: file.path }),
  async flow(base, key, files, fields) {
    const flow = await python<Flow>({
      op: 'run',
      base,
      key,
      files: filePaths(files),
      fields,
      interval_s: POLL_INTERVAL_MS / 1000,
      timeout_s: FLOW_TIMEOUT_MS / 1000,
    });
    return { ...flow, created: { ...flow.created, headers: lower(flow.created.headers) } };
  },
};
