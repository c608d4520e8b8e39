import { requestViewerOf } from './request-viewer.js';

const none = { admin: false, projectMember: false, assignedReviewer: false, status: 'submitted' };

describe('requestViewerOf', () => {
  it('admins first, then members, then assigned reviewers of submitted requests', () => {
    expect(requestViewerOf({ ...none, admin: true, projectMember: true })).toBe('admin');
    expect(requestViewerOf({ ...none, projectMember: true, assignedReviewer: true })).toBe('member');
    expect(requestViewerOf({ ...none, assignedReviewer: true })).toBe('reviewer');
    expect(requestViewerOf(none)).toBeNull();
  });

  it('keeps drafts from reviewers but not from members', () => {
    expect(requestViewerOf({ ...none, assignedReviewer: true, status: 'draft' })).toBeNull();
    expect(requestViewerOf({ ...none, projectMember: true, status: 'draft' })).toBe('member');
  });
});
