# The phydev agent as a container image.
#
# Build it with `scripts/build-image` (it puts the project's wheel and its dependencies' wheels
# into a temporary build context, so this build needs no network):
#
#   scripts/build-image --tag phydev:latest                      # base: python:3.11-slim-bookworm
#   scripts/build-image --tag phydev:latest --base localhost/debian-python:bookworm
#
# Run it as the Go agent's README does (see README.md, "Deploy", for the least-privilege way):
#
#   docker run -ti --rm --privileged -p 8080:8080 phydev:latest server

# Any image with python3 (>= 3.10, with venv) and a glibc: the wheels are manylinux ones.
ARG BASE=docker.io/library/python:3.11-slim-bookworm

# Stage 1: install the wheels into a virtualenv. pip and the wheels stay behind in this stage.
FROM ${BASE} AS install
COPY wheels/ /tmp/wheels/
RUN python3 -m venv /opt/phydev \
 && /opt/phydev/bin/python -m pip install --no-index --no-cache-dir --disable-pip-version-check \
        --find-links /tmp/wheels devagent \
 && /opt/phydev/bin/python -m pip uninstall -y -q pip setuptools \
 && /opt/phydev/bin/phydev --version

# Stage 2: the base plus the virtualenv; nothing else (no compiler, no pip, no wheels).
FROM ${BASE}
ARG BASE
ARG VERSION=unknown
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="phydev" \
      org.opencontainers.image.description="dev-agent for Python: debug a Linux host's eBPF programs, maps and links remotely (GraphQL, Prometheus, CLI)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.base.name="${BASE}"
COPY --from=install /opt/phydev /opt/phydev
ENV PATH=/opt/phydev/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    PORT=8080 \
    PYTHONUNBUFFERED=1
EXPOSE 8080
ENTRYPOINT ["phydev"]
CMD ["server"]
