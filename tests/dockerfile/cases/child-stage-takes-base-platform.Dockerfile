FROM --platform=linux/arm64 scratch AS a
FROM --platform=linux/s390x a
