"""S3 conditional writes as AWS serializes them.

moto 5.2 honours `If-None-Match: *` and `If-Match` on PutObject and DeleteObject, but checks and
writes without a lock, so two concurrent writers can both succeed. AWS: "If multiple conditional
writes occur for the same object name, the first write operation to finish succeeds" and the
others get 412 PreconditionFailed.
https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
"""

from moto.s3.responses import S3Response

from . import state

_orig_put = S3Response.put_object
_orig_delete = S3Response.delete_object


def put_object(self):
    with state.LOCK:
        return _orig_put(self)


def delete_object(self):
    with state.LOCK:
        return _orig_delete(self)


def apply() -> None:
    S3Response.put_object = put_object
    S3Response.delete_object = delete_object
