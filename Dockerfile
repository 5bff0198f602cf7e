# jml's image: the API and the worker run from the same image with different commands.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# The image is prepared at build time; bin/jml.js must not install anything at start.
ENV JML_SKIP_BOOTSTRAP=1
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --omit=dev
COPY prisma ./prisma
COPY prisma.config.ts tsconfig.json ./
COPY scripts ./scripts
COPY bin ./bin
COPY workflows ./workflows
COPY src ./src
RUN DATABASE_URL=postgresql://build/jml npx prisma generate
USER node
EXPOSE 8080
CMD ["node", "bin/jml.js", "start", "--role", "api"]
