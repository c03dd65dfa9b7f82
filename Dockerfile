# The image every Airflow service of docker-compose.yaml runs: the official apache/airflow image (Airflow 3.3,
# Python 3.11) with airflow-provider-knit installed, Knit's DAG file in the dags folder, graphviz (lineage and
# plan graphs) and the docker CLI (the docker runner talks to the host's daemon through the mounted socket).
#
#   docker compose build            # or: docker build -t airflow-provider-knit:latest .
#
# The package is built into a wheel in a throwaway stage, then installed with Airflow pinned to the base image's
# version, so pip can never move Airflow itself (the way the Airflow docs recommend extending the image).
#
# The base images are build arguments: AIRFLOW_IMAGE (any image laid out like apache/airflow: the airflow user, pip
# installing into its environment, /entrypoint) and DOCKER_CLI_IMAGE (any image with /usr/local/bin/docker).
# tests/deploy builds this file unchanged on locally made stand-ins of both (see tests/deploy/images.py).

ARG AIRFLOW_VERSION=3.3.2
ARG PYTHON_VERSION=3.11
ARG AIRFLOW_IMAGE=apache/airflow:${AIRFLOW_VERSION}-python${PYTHON_VERSION}
ARG DOCKER_CLI_IMAGE=docker:28-cli

FROM ${DOCKER_CLI_IMAGE} AS docker-cli

FROM ${AIRFLOW_IMAGE} AS wheel
# made by the airflow user, so the build can write its egg-info and build/ next to the sources
RUN mkdir /tmp/knit-src
WORKDIR /tmp/knit-src
COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 knit_provider ./knit_provider
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/knit-wheel .

FROM ${AIRFLOW_IMAGE}
ARG AIRFLOW_VERSION

USER root
# graphviz, unless the base image has it already (the deployment tests' locally made base does: it builds offline)
RUN if ! command -v dot >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends graphviz \
        && apt-get autoremove -yqq --purge \
        && apt-get clean \
        && rm -rf /var/lib/apt/lists/*; \
    fi
COPY --from=docker-cli /usr/local/bin/docker /usr/local/bin/docker

USER airflow
# owned by airflow, who removes it after the install
COPY --from=wheel --chown=airflow:0 /tmp/knit-wheel /tmp/knit-wheel
# the [s3] extra: Data on S3 ([knit] data_store = s3://...), and this image as Runs' stager image in Kubernetes
RUN pip install --no-cache-dir "apache-airflow==${AIRFLOW_VERSION}" "$(echo /tmp/knit-wheel/*.whl)[s3]" \
    && rm -rf /tmp/knit-wheel
# Knit's DAGs (the generator and one DAG per Plan) come from this one file; the plugin is an entry point.
COPY --chown=airflow:0 dags/knit_dags.py /opt/airflow/dags/knit_dags.py
