/** The JSON body every webhook receiver gets (signed as sent, byte for byte). */
export interface WebhookPayload {
  id: string;
  kind: string;
  createdAt: string;
  projectId: string | null;
  allocationId: string | null;
  title: string;
  body: string;
  data: Record<string, unknown>;
}
