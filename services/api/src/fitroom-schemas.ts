import { Type, type TSchema } from '@sinclair/typebox';

/**
 * The FitRoom-compatible routes' shapes, written once: FitRoom's fields, statuses and answers
 * exactly as its document (docs/fitroom-api.txt) shows them, in the order of its examples.
 * The routes serialise with them and /docs is generated from them.
 */

export const FITROOM_TAG = 'FitRoom-compatible';

/** FitRoom's error body, as the simulator answers it: `{ "error": "<Reason>", "message" }`. */
export const FitRoomErrorBody = Type.Object(
  {
    error: Type.String({ description: 'The HTTP reason phrase, e.g. "Unauthorized"' }),
    message: Type.String({ description: "What went wrong, in FitRoom's words where it has them" }),
  },
  { $id: 'FitRoomError' },
);

/** The error answers a FitRoom-compatible route documents, all FitRoom-shaped. */
export function fitroomErrors<const S extends readonly number[]>(
  ...statuses: S
): { [K in S[number]]: typeof FitRoomErrorBody } {
  const out: Record<number, TSchema> = {};
  for (const status of statuses) out[status] = FitRoomErrorBody;
  return out as { [K in S[number]]: typeof FitRoomErrorBody };
}

const File = (description: string) => Type.String({ format: 'binary', description });

export const CreateClothType = Type.Union(
  [Type.Literal('upper'), Type.Literal('lower'), Type.Literal('full_set'), Type.Literal('combo')],
  { description: '"combo" needs lower_cloth_image' },
);

/** POST /api/tryon/v2/tasks, for the OpenAPI document only: the route streams the parts itself. */
export const CreateTaskForm = Type.Object(
  {
    model_image: File('Model image (recommended size: 2048px)'),
    cloth_image: File('Clothing image; the upper garment for combo (recommended size: 1024px)'),
    lower_cloth_image: Type.Optional(File('Lower clothing image; required for combo')),
    cloth_type: CreateClothType,
    hd_mode: Type.Optional(
      Type.String({
        pattern: '^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]|1|0)$',
        description:
          'High-definition mode: better quality, slower (~30 s instead of ~9 s). true/false, ' +
          'True/False or 1/0, in any case',
      }),
    ),
  },
  { description: 'multipart/form-data' },
);

export const CreateTaskAnswer = Type.Object({
  task_id: Type.String({ description: 'The id to poll: an item id of this service' }),
  status: Type.Literal('CREATED'),
});

const UnixSeconds = (description: string) => Type.Integer({ description });
const createdAt = UnixSeconds('Unix time (seconds) the task was created');
const startedAt = UnixSeconds('Unix time (seconds) processing started');
const completedAt = UnixSeconds('Unix time (seconds) processing finished');
const taskId = Type.String();

export const CreatedTask = Type.Object({
  task_id: taskId,
  status: Type.Literal('CREATED'),
  progress: Type.Literal(0),
  created_at: createdAt,
  message: Type.Optional(
    Type.String({
      description:
        'Only while the task cannot start because every FitRoom key of this service is out of credit (or refused): it waits, and starts once a key is usable again',
    }),
  ),
});

export const ProcessingTask = Type.Object({
  task_id: taskId,
  status: Type.Literal('PROCESSING'),
  progress: Type.Integer({
    minimum: 1,
    maximum: 99,
    description: 'Estimated from the time since processing started and the expected duration',
  }),
  created_at: createdAt,
  started_at: startedAt,
});

export const CompletedTask = Type.Object({
  task_id: taskId,
  status: Type.Literal('COMPLETED'),
  download_signed_url: Type.String({
    description: 'Temporary URL of the result image; needs no header (RESULT_URL_TTL_S)',
  }),
  progress: Type.Literal(100),
  created_at: createdAt,
  started_at: startedAt,
  completed_at: completedAt,
});

export const FailedTask = Type.Object({
  task_id: taskId,
  status: Type.Literal('FAILED'),
  error: Type.String({ description: 'Why the task failed' }),
  created_at: createdAt,
  started_at: startedAt,
  completed_at: completedAt,
});

export const TaskAnswer = Type.Union([CreatedTask, ProcessingTask, CompletedTask, FailedTask]);

export const TaskParams = Type.Object({
  id: Type.String({ description: 'The task_id answered by create' }),
});

export const ResultParams = Type.Object({ id: Type.String() });

export const ResultQuery = Type.Object({
  expires: Type.Optional(Type.String({ description: 'Unix time (seconds) the link expires' })),
  signature: Type.Optional(Type.String({ description: 'Hex HMAC-SHA256 of "<id>.<expires>"' })),
});

/** The input checks' form, for the OpenAPI document only. */
export const InputCheckForm = Type.Object(
  { input_image: File('The image to check') },
  { description: 'multipart/form-data' },
);

export const ClothesType = Type.Union([
  Type.Literal('upper'),
  Type.Literal('lower'),
  Type.Literal('full'),
]);

/**
 * The model check's three documented answers; a union so each serialises with its fields in the
 * document's order (`error_code` between `is_good` and `good_clothes_types`).
 */
export const ModelCheckAnswer = Type.Union([
  Type.Object(
    {
      is_good: Type.Boolean(),
      error_code: Type.String({
        description: '"410xxx" is a warning (is_good true), "400xxx" an error (is_good false)',
      }),
      good_clothes_types: Type.Array(ClothesType),
    },
    { description: 'A warning or an error' },
  ),
  Type.Object(
    { is_good: Type.Boolean(), good_clothes_types: Type.Array(ClothesType) },
    { description: 'Success' },
  ),
]);

export const ClothesCheckAnswer = Type.Object({
  clothes_type: Type.Union([ClothesType, Type.Null()]),
  is_clothes: Type.Boolean(),
});
