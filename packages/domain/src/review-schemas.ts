import { Type, type Static } from '@sinclair/typebox';
import { ReviewDecision } from './schemas.js';

/** Requests and answers of review, re-render and the results ZIP (the Item fields are in schemas.ts). */

export const ReviewRequest = Type.Object(
  {
    decision: Type.Union([ReviewDecision, Type.Null()], {
      description: 'approved or rejected; null clears the review',
    }),
  },
  { additionalProperties: false },
);

export const RerenderQuery = Type.Object(
  {
    dry_run: Type.Optional(
      Type.Boolean({ description: 'Count the items and credits only: nothing is queued' }),
    ),
  },
  { additionalProperties: false },
);

export const RerenderAnswer = Type.Object(
  {
    dry_run: Type.Boolean(),
    items: Type.Integer({ minimum: 0, description: 'Rejected completed items rendered again' }),
    credits: Type.Integer({
      minimum: 0,
      description: 'What they cost: one FitRoom credit each (fresh renders, never reused)',
    }),
    item_ids: Type.Array(Type.String()),
  },
  { $id: 'RerenderAnswer' },
);

export const ResultsZipQuery = Type.Object(
  {
    review: Type.Optional(
      Type.Union([Type.Literal('approved'), Type.Literal('all')], {
        description: 'approved: only the approved results; all (default): every result',
      }),
    ),
  },
  { additionalProperties: false },
);

export type ReviewRequest = Static<typeof ReviewRequest>;
export type RerenderAnswer = Static<typeof RerenderAnswer>;
export type ResultsZipQuery = Static<typeof ResultsZipQuery>;
