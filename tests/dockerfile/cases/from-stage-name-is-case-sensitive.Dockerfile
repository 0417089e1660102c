FROM scratch AS build
FROM Build
