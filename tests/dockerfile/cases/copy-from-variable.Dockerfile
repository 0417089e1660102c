FROM scratch
ARG S=a
COPY --from=$S x y
