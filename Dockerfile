FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir . && useradd --uid 10001 aigw && mkdir -p /var/lib/aigw && chown aigw /var/lib/aigw
USER aigw
ENV AIGW_DATA_DIR=/var/lib/aigw
