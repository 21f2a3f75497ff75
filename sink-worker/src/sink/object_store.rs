//! Object storage: a local folder or an S3 bucket, behind one type.
