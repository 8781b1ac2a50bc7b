# Worker and starter images. Build: docker build --target worker -t promoflow-worker .
FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/worker ./worker && \
    CGO_ENABLED=0 go build -trimpath -o /out/starter ./starter

FROM gcr.io/distroless/static-debian12:nonroot AS worker
COPY --from=build /out/worker /worker
ENTRYPOINT ["/worker"]

FROM gcr.io/distroless/static-debian12:nonroot AS starter
COPY --from=build /out/starter /starter
ENTRYPOINT ["/starter"]
