// Password hashing with Bun.password (bcrypt). Bun pre-hashes inputs over 72 bytes, so long passwords
// that differ only after byte 72 stay different; hashes from the seed (passlib `$2b$`) verify as they are.
export interface PasswordHasher {
  hash(password: string): Promise<string>;
  verify(password: string, hash: string): Promise<boolean>;
  /** Spends the time of one verify, so an unknown username costs what a wrong password costs. */
  burn(password: string): Promise<void>;
}

export function createPasswordHasher(cost: number): PasswordHasher {
  let dummy: Promise<string> | undefined;
  const verify = async (password: string, hash: string) => {
    try {
      return await Bun.password.verify(password, hash, "bcrypt");
    } catch {
      return false; // a malformed stored hash is a failed login, not a 500
    }
  };
  return {
    hash: (password) => Bun.password.hash(password, { algorithm: "bcrypt", cost }),
    verify,
    async burn(password) {
      dummy ??= Bun.password.hash("not a real password", { algorithm: "bcrypt", cost });
      await verify(password, await dummy);
    },
  };
}
