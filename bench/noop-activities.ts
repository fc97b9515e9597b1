/**
 * The baseline's activities: four that do nothing, registered on the bench worker next to the real
 * ones, so the baseline pays Temporal's cost of an activity and nothing else.
 */
export interface NoopInput {
  orderId: string;
}

export function createNoopActivities() {
  return {
    async noopGrantCourseAccess(_input: NoopInput): Promise<{ attempt: number }> {
      return { attempt: 1 };
    },
    async noopReserveInventory(_input: NoopInput): Promise<{ attempt: number }> {
      return { attempt: 1 };
    },
    async noopPack(_input: NoopInput): Promise<{ attempt: number }> {
      return { attempt: 1 };
    },
    async noopShip(_input: NoopInput): Promise<{ attempt: number }> {
      return { attempt: 1 };
    },
  };
}

export type NoopActivities = ReturnType<typeof createNoopActivities>;
