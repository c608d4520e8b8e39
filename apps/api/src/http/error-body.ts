/** The one error shape of API.md. */
export interface ErrorBody {
  error: { code: string; message: string; details?: unknown; errorId?: string };
}

export function errorBody(code: string, message: string, details?: unknown, errorId?: string): ErrorBody {
  return {
    error: { code, message, ...(details === undefined ? {} : { details }), ...(errorId ? { errorId } : {}) },
  };
}
