import type { FastifyInstance, FastifyReply } from 'fastify';
import { SimConfigError } from './config.js';
import { errorBody } from './errors.js';
import type { Simulator } from './simulator.js';

export function sendError(reply: FastifyReply, status: number, message?: string): FastifyReply {
  return reply.code(status).type('application/json').send(errorBody(status, message));
}

/** GET /_sim/tasks: per-task timelines, filtered by key and paged by id. */
function registerTaskTimes(app: FastifyInstance, sim: Simulator): void {
  app.get<{ Querystring: Record<string, unknown> }>('/_sim/tasks', (request, reply) => {
    const { key, after, limit } = request.query;
    const text = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
    const afterText = text(after);
    const limitText = text(limit);
    if (afterText !== undefined && !/^\d{1,16}$/.test(afterText)) {
      return sendError(reply, 400, 'Your request is invalid: after must be a task id.');
    }
    if (limitText !== undefined && !/^[1-9]\d{0,5}$/.test(limitText)) {
      return sendError(reply, 400, 'Your request is invalid: limit must be a positive integer.');
    }
    return sim.taskTimes({
      ...(text(key) !== undefined && { key: text(key) }),
      ...(afterText !== undefined && { after: afterText }),
      ...(limitText !== undefined && { limit: Number(limitText) }),
    });
  });
}

/** The /_sim routes: stats, task timelines, knobs. Neither authenticated nor counted. */
export function registerSimRoutes(app: FastifyInstance, sim: Simulator): void {
  app.get('/_sim/stats', () => sim.stats());
  registerTaskTimes(app, sim);
  app.get('/_sim/config', () => sim.knobs());
  app.post<{ Body: unknown }>('/_sim/config', (request, reply) => {
    const patch = request.body;
    if (typeof patch !== 'object' || patch === null || Buffer.isBuffer(patch)) {
      return sendError(
        reply,
        400,
        'Your request is invalid: send a JSON object of simulator options.',
      );
    }
    try {
      return sim.configure(patch);
    } catch (error) {
      if (error instanceof SimConfigError) return sendError(reply, 400, error.message);
      throw error;
    }
  });
}
