# The app image: one image, three entry points (worker, relay, fakes), chosen by the command.
FROM python:3.11.14-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN useradd --create-home --uid 10001 app
WORKDIR /app

# The same install as `make`, minus the dev group: the runtime dependencies come from
# pyproject.toml alone, so the image and the virtualenv can never disagree.
COPY . .
RUN pip install . && rm -rf build *.egg-info

USER app
CMD ["python", "worker.py"]
