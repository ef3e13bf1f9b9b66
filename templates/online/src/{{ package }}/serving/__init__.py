"""HTTP transport: FastAPI around the inference core, run by uvicorn."""
