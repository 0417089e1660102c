FROM scratch
COPY --form=a x y
