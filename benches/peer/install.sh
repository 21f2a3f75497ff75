#!/usr/bin/env bash
# Installs the benchmark's peer, Apache Flink, into the tools folder: PyFlink from PyPI in its own
# virtualenv, and from Maven Central (benches/peer/pom.xml) the Kafka and Parquet SQL connectors, the
# Confluent-registry Avro format, the S3 file system and the Hadoop libraries Parquet needs. Writes a
# Flink configuration folder for the local S3 server. Idempotent; prints the install folder.
# Nothing of the peer is committed: this script is how it gets here.
SERVICE=peer
source "$(dirname "${BASH_SOURCE[0]}")/../../deploy/local/common.sh"
FLINK_VERSION=2.3.0
PEER=$MURRON_TOOLS/flink-peer-$FLINK_VERSION
HERE=$MURRON_ROOT/benches/peer

# A changed pom.xml (another connector or Hadoop version) installs again.
want=$(sha256sum "$HERE/pom.xml" | cut -c1-16)
if [ "$(cat "$PEER/.complete" 2>/dev/null)" != "$want" ]; then
  command -v java >/dev/null || apt_install openjdk-17-jre-headless
  command -v mvn >/dev/null || apt_install maven
  rm -rf "$PEER" && mkdir -p "$PEER"
  log "installing PyFlink $FLINK_VERSION into $PEER/venv"
  python3 -m venv "$PEER/venv"
  "$PEER/venv/bin/pip" install -q "apache-flink==$FLINK_VERSION" >"$PEER/pip.log" 2>&1 \
    || { tail -n 30 "$PEER/pip.log" >&2; die "pip could not install apache-flink"; }
  log "resolving the connector jars from Maven Central"
  mvn -B -q -f "$HERE/pom.xml" dependency:copy-dependencies -DincludeScope=runtime \
    -DoutputDirectory="$PEER/lib" >"$PEER/mvn.log" 2>&1 \
    || { tail -n 30 "$PEER/mvn.log" >&2; die "mvn could not resolve the peer's jars"; }
  echo "$want" >"$PEER/.complete"
fi

# The configuration follows the stack's S3 settings, so it is written on every call. Flink's shipped
# config.yaml carries the JVM options Java 17 needs; Hadoop's S3 client reads core-site.xml.
pyflink=$("$PEER/venv/bin/python" -c 'import os, pyflink; print(os.path.dirname(pyflink.__file__))')
mkdir -p "$PEER/conf"
cp "$pyflink"/conf/config.yaml "$pyflink"/conf/log4j*.properties "$PEER/conf/"
cat >"$PEER/conf/core-site.xml" <<XML
<?xml version="1.0"?>
<configuration>
  <property><name>fs.s3a.endpoint</name><value>http://127.0.0.1:$S3_PORT</value></property>
  <property><name>fs.s3a.connection.ssl.enabled</name><value>false</value></property>
  <property><name>fs.s3a.path.style.access</name><value>true</value></property>
  <property><name>fs.s3a.access.key</name><value>$S3_ACCESS_KEY</value></property>
  <property><name>fs.s3a.secret.key</name><value>$S3_SECRET_KEY</value></property>
</configuration>
XML
echo "$PEER"
