import {
  NotificationsRepository,
  type NotificationInput,
  type RecordedNotification,
  type Tx,
} from '#persistence';

/** Notifications in memory: each dedupe key is recorded once and creates one delivery. */
export class FakeNotifications extends NotificationsRepository {
  readonly recorded: NotificationInput[] = [];

  override record(_tx: Tx, input: NotificationInput): Promise<RecordedNotification | null> {
    if (this.recorded.some((n) => n.dedupeKey === input.dedupeKey)) return Promise.resolve(null);
    this.recorded.push(input);
    return Promise.resolve({
      notificationId: `n${this.recorded.length}`,
      deliveryIds: [`d:${input.dedupeKey}`],
    });
  }

  keys(): string[] {
    return this.recorded.map((n) => n.dedupeKey);
  }
}
